"""The city's built-in field standard: data elements every dataset may reference.

Data only; :func:`cityos.datahub.elements.seed_builtin` stores the missing ones. Patterns
are full matches (the validator anchors them); ``check`` names a CityOS check
(:class:`cityos.datahub.tableschema.Check`).
"""

from __future__ import annotations

from typing import Any

# 统一社会信用代码 characters: digits and capitals except I, O, S, V, Z.
USCC_PATTERN = r"^[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}$"
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_PATTERN = rf"^[{PROVINCES}][A-Z][A-HJ-NP-Z0-9]{{4,5}}[A-HJ-NP-Z0-9挂学警港澳]$"

BUILTIN_ELEMENTS: tuple[dict[str, Any], ...] = (
    {
        "code": "district_code",
        "name_zh": "区县代码",
        "name_en": "District code",
        "definition_zh": "区（县）级行政区域的代码，必须是本市城市地图中已登记的区域代码"
        "（编码规则参照 GB/T 2260 行政区划代码）。",
        "definition_en": "The code of a district (county-level division); it must be the code "
        "of an area on the city map (codes follow GB/T 2260 administrative division codes).",
        "type": "string",
        "constraints": {"check": "area_code"},
        "example": "110105",
    },
    {
        "code": "grid_code",
        "name_zh": "网格编码",
        "name_en": "Grid cell code",
        "definition_zh": "城市网格化管理中单元网格的编码，必须是本市城市地图中已登记的区域代码。",
        "definition_en": "The code of a management grid cell of the city's grid management "
        "system; it must be the code of an area on the city map.",
        "type": "string",
        "constraints": {"check": "area_code"},
        "example": "110105001001",
    },
    {
        "code": "uscc",
        "name_zh": "统一社会信用代码",
        "name_en": "Unified social credit code",
        "definition_zh": "法人和其他组织的统一社会信用代码（GB 32100-2015）：18 位，依次为登记管理"
        "部门代码、机构类别代码、登记管理机关行政区划码、主体标识码和校验码，校验码须正确。",
        "definition_en": "The unified social credit code of a legal person or other "
        "organisation (GB 32100-2015): 18 characters — registering authority, organisation "
        "type, the registering authority's area code, the organisation's identifier and a "
        "check character, which must be right.",
        "type": "string",
        "constraints": {"pattern": USCC_PATTERN, "check": "uscc"},
        "example": "91350100M000100Y43",
    },
    {
        "code": "org_name",
        "name_zh": "单位名称",
        "name_en": "Organisation name",
        "definition_zh": "法人或其他组织在登记机关登记的全称。",
        "definition_en": "The full registered name of a legal person or other organisation.",
        "type": "string",
        "constraints": {"minLength": 2, "maxLength": 200},
        "example": "某某市城市管理局",
    },
    {
        "code": "mobile_cn",
        "name_zh": "手机号码",
        "name_en": "Mobile phone number",
        "definition_zh": "中国大陆 11 位移动电话号码，不含国家代码和分隔符。属个人信息，向非数据"
        "所有部门提供时部分遮蔽。",
        "definition_en": "A mainland China mobile number: 11 digits without country code or "
        "separators. Personal information: partly masked for anyone but the owning department.",
        "type": "string",
        "constraints": {"pattern": r"^1[3-9]\d{9}$"},
        "sensitivity": "sensitive",
        "mask": "partial",
        "example": "13812345678",
    },
    {
        "code": "phone",
        "name_zh": "联系电话",
        "name_en": "Telephone number",
        "definition_zh": "机构的联系电话，可含区号、分机号、加号、空格、括号和连字符。",
        "definition_en": "An organisation's telephone number; may contain the area code, an "
        "extension, a leading plus, spaces, brackets and hyphens.",
        "type": "string",
        "constraints": {"pattern": r"^\+?[0-9][0-9 ()-]{2,31}$"},
        "example": "010-12345678",
    },
    {
        "code": "id_card_cn",
        "name_zh": "公民身份号码",
        "name_en": "Citizen identity number",
        "definition_zh": "居民身份证上的 18 位公民身份号码（GB 11643-1999）：6 位地址码、"
        "8 位出生日期、3 位顺序码和 1 位校验码（X 表示 10）。敏感个人信息，"
        "向非数据所有部门提供时部分遮蔽。",
        "definition_en": "The 18-character citizen identity number of a resident identity "
        "card (GB 11643-1999): 6-digit address code, 8-digit birth date, 3-digit sequence "
        "code and a check character (X for ten). Sensitive personal information: partly "
        "masked for anyone but the owning department.",
        "type": "string",
        "constraints": {"check": "id_card_cn"},
        "sensitivity": "sensitive",
        "mask": "partial",
        "example": "11010519491231002X",
    },
    {
        "code": "person_name",
        "name_zh": "姓名",
        "name_en": "Person's name",
        "definition_zh": "自然人的姓名。个人信息，除数据所有部门和获授权部门外不予提供。",
        "definition_en": "The name of a natural person. Personal information: removed for "
        "anyone but the owning department and departments granted access.",
        "type": "string",
        "constraints": {"maxLength": 100},
        "sensitivity": "sensitive",
        "example": "张三",
    },
    {
        "code": "address",
        "name_zh": "地址",
        "name_en": "Address",
        "definition_zh": "按行政区划、街道（路）、门牌号的顺序书写的地址。",
        "definition_en": "A postal address written from the administrative division down to "
        "the street and house number.",
        "type": "string",
        "constraints": {"maxLength": 500},
        "example": "北京市朝阳区建国路 1 号",
    },
    {
        "code": "geopoint",
        "name_zh": "坐标",
        "name_en": "Coordinates",
        "definition_zh": "WGS 84 坐标系中的位置，写作“经度,纬度”（十进制度）。",
        "definition_en": 'A position in WGS 84, written "longitude,latitude" in decimal degrees.',
        "type": "geopoint",
        "example": "116.4074,39.9042",
    },
    {
        "code": "postal_code",
        "name_zh": "邮政编码",
        "name_en": "Postal code",
        "definition_zh": "中国邮政编码，6 位数字。",
        "definition_en": "A Chinese postal code: 6 digits.",
        "type": "string",
        "constraints": {"pattern": r"^\d{6}$"},
        "example": "100020",
    },
    {
        "code": "email",
        "name_zh": "电子邮箱",
        "name_en": "Email address",
        "definition_zh": "电子邮件地址。",
        "definition_en": "An email address.",
        "type": "string",
        "format": "email",
        "constraints": {"maxLength": 320},
        "example": "data@example.org",
    },
    {
        "code": "date",
        "name_zh": "日期",
        "name_en": "Date",
        "definition_zh": "公历日期，默认写作 YYYY-MM-DD（GB/T 7408 / ISO 8601）。",
        "definition_en": "A calendar date, by default written YYYY-MM-DD (ISO 8601).",
        "type": "date",
        "example": "2024-05-01",
    },
    {
        "code": "datetime",
        "name_zh": "日期时间",
        "name_en": "Date and time",
        "definition_zh": "日期和时间（ISO 8601），未注明时区时按协调世界时（UTC）存储。",
        "definition_en": "A date and time (ISO 8601); stored in UTC when no offset is given.",
        "type": "datetime",
        "example": "2024-05-01T08:30:00+08:00",
    },
    {
        "code": "year",
        "name_zh": "年份",
        "name_en": "Year",
        "definition_zh": "公历年份，4 位数字。",
        "definition_en": "A calendar year, four digits.",
        "type": "year",
        "example": "2024",
    },
    {
        "code": "amount_cny",
        "name_zh": "金额（元）",
        "name_en": "Amount (yuan)",
        "definition_zh": "以人民币元为单位的金额，不为负数。",
        "definition_en": "An amount of money in Chinese yuan (CNY); not negative.",
        "type": "number",
        "constraints": {"minimum": 0},
        "example": "1250.50",
    },
    {
        "code": "population_count",
        "name_zh": "人口数",
        "name_en": "Population count",
        "definition_zh": "人数（人），非负整数。",
        "definition_en": "A number of people: a whole number, not negative.",
        "type": "integer",
        "constraints": {"minimum": 0},
        "example": "125000",
    },
    {
        "code": "percentage",
        "name_zh": "百分比",
        "name_en": "Percentage",
        "definition_zh": "0 到 100 之间的百分数，不带百分号。",
        "definition_en": "A percentage between 0 and 100, without the percent sign.",
        "type": "number",
        "constraints": {"minimum": 0, "maximum": 100},
        "example": "87.5",
    },
    {
        "code": "station_code",
        "name_zh": "站点编码",
        "name_en": "Station code",
        "definition_zh": "监测站、公交站等站点的编码，由字母、数字、下划线和连字符组成。",
        "definition_en": "The code of a station (monitoring station, bus stop, …): letters, "
        "digits, underscores and hyphens.",
        "type": "string",
        "constraints": {"pattern": r"^[A-Za-z0-9_-]{1,32}$"},
        "example": "AQ-1001",
    },
    {
        "code": "plate_number_cn",
        "name_zh": "机动车号牌号码",
        "name_en": "Vehicle plate number",
        "definition_zh": "中国大陆机动车号牌号码（含新能源号牌），如“京A12345”。个人信息，向非数据"
        "所有部门提供时部分遮蔽。",
        "definition_en": "A mainland China vehicle registration plate (also new-energy "
        'plates), such as "京A12345". Personal information: partly masked for anyone but the '
        "owning department.",
        "type": "string",
        "constraints": {"pattern": PLATE_PATTERN},
        "sensitivity": "sensitive",
        "mask": "partial",
        "example": "京A12345",
    },
)
