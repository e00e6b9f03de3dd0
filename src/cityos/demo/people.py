"""The demo city's departments and users (one or more for every role)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service

DEMO_ACTOR = Actor.system("demo")
DEMO_PASSWORD = "cityos-demo"  # noqa: S105 - the published demo password

# code, name_zh, name_en, parent code
DEPARTMENTS: list[tuple[str, str, str, str | None]] = [
    ("GOV", "明湖市人民政府", "Minghu Municipal Government", None),
    ("OPS", "城市运行管理中心", "City Operations Center", "GOV"),
    ("DATA", "大数据发展管理局", "Big Data Bureau", "GOV"),
    ("CMB", "城市管理局", "City Management Bureau", "GOV"),
    ("SAN", "环境卫生管理处", "Sanitation Department", "CMB"),
    ("LIGHT", "路灯管理所", "Street Lighting Office", "CMB"),
    ("GRID", "网格化管理中心", "Grid Management Center", "CMB"),
    ("TRANS", "交通运输局", "Transport Bureau", "GOV"),
    ("WATER", "水务局", "Water Authority", "GOV"),
    ("ENV", "生态环境局", "Ecology and Environment Bureau", "GOV"),
    ("HOUSING", "住房和城乡建设局", "Housing and Urban-Rural Development Bureau", "GOV"),
    ("PARKS", "园林绿化局", "Parks and Greening Bureau", "GOV"),
    ("PSB", "公安局", "Public Security Bureau", "GOV"),
    ("FIRE", "消防救援支队", "Fire and Rescue Brigade", "GOV"),
    ("HEALTH", "卫生健康委员会", "Health Commission", "GOV"),
    ("EDU", "教育局", "Education Bureau", "GOV"),
    ("CIVIL", "民政局", "Civil Affairs Bureau", "GOV"),
    ("MARKET", "市场监督管理局", "Market Regulation Administration", "GOV"),
    ("EMERG", "应急管理局", "Emergency Management Bureau", "GOV"),
    ("PLAN", "自然资源和规划局", "Natural Resources and Planning Bureau", "GOV"),
]

# email, roles, department, display name — the sharing requests' people
DATAHUB_USERS: list[tuple[str, tuple[str, ...], str | None, str]] = [
    ("steward.civil@example.org", ("steward",), "CIVIL", "Liu Steward 刘民政"),
    ("steward.health@example.org", ("steward",), "HEALTH", "He Steward 何卫健"),
    ("steward.housing@example.org", ("steward",), "HOUSING", "Xu Steward 徐住建"),
    ("steward.psb@example.org", ("steward",), "PSB", "Gao Steward 高公安"),
    ("steward.emerg@example.org", ("steward",), "EMERG", "Ma Steward 马应急"),
    ("staff.edu@example.org", ("staff",), "EDU", "Jiang Staff 江教育"),
    ("staff.market@example.org", ("staff",), "MARKET", "Shi Staff 施市监"),
    ("staff.grid@example.org", ("staff",), "GRID", "Tang Staff 唐网格"),
    ("staff.fire@example.org", ("staff",), "FIRE", "Yan Staff 严消防"),
]

# email, roles, department, display name
DEMO_USERS: list[tuple[str, tuple[str, ...], str | None, str]] = [
    ("admin@example.org", ("admin",), "DATA", "Admin 管理员"),
    ("operator@example.org", ("operator",), "OPS", "Olivia Operator 值班员"),
    ("staff.cmb@example.org", ("staff",), "CMB", "Chen Staff 陈工"),
    ("supervisor.cmb@example.org", ("staff", "supervisor"), "CMB", "Zhou Supervisor 周科长"),
    ("staff.water@example.org", ("staff",), "WATER", "Wang Staff 王工"),
    ("steward@example.org", ("steward",), "DATA", "Sun Steward 孙数据"),
    ("analyst@example.org", ("analyst",), "PLAN", "Li Analyst 李分析"),
    *DATAHUB_USERS,
]


def seed_departments(db_session: Session) -> str:
    existing = {d.code for d in auth_service.list_departments(db_session)}
    created = 0
    for code, name_zh, name_en, parent in DEPARTMENTS:
        if code not in existing:
            auth_service.create_department(
                db_session,
                code=code,
                name_zh=name_zh,
                name_en=name_en,
                parent_code=parent,
                actor=DEMO_ACTOR,
            )
            created += 1
    return f"departments: {len(DEPARTMENTS)} ({created} new)"


def seed_users(db_session: Session) -> str:
    created = 0
    for email, roles, department, name in DEMO_USERS:
        if auth_service.find_user(db_session, email=email) is None:
            auth_service.create_user(
                db_session,
                email=email,
                password=DEMO_PASSWORD,
                display_name=name,
                roles=roles,
                department_code=department,
                actor=DEMO_ACTOR,
            )
            created += 1
    return f"users: {len(DEMO_USERS)} ({created} new)"
