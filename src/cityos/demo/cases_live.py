"""About 20 demo cases opened and worked through the real service functions.

Unlike the bulk-generated history, these go through ``open_case`` and the workflow
(acknowledge, notes in Chinese and English, a transfer with a reason, action scheduled,
resolution with a photo, closing with a reason, a citizen's reopening), so the tracking and
staff pages show real histories. Each acts as the demo user of the case's department
(the operator where the demo has no user there).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.cases import workflow
from cityos.cases.catalog import list_categories
from cityos.cases.intake import CaseInput, CasePolicy, open_case
from cityos.cases.models import AttributeType, Case, CaseSource, Category
from cityos.cases.photos import PhotoUpload
from cityos.demo.city import CENTRE, KM_PER_DEG_LAT

LIVE_PREFIX = "demo-live:"
HANDLERS = ("staff.cmb@example.org", "staff.water@example.org", "supervisor.cmb@example.org")
OPERATOR = "operator@example.org"
CITIZEN = Actor(user_id=None, label="citizen (demo)")


@dataclass(frozen=True, slots=True)
class Step:
    after_h: float  # hours after the case was opened
    action: str  # ack, progress, schedule, note, internal, transfer, resolve, close, reopen
    text: str = ""
    value: str = ""  # transfer: department code; close: reason


@dataclass(frozen=True, slots=True)
class Story:
    code: str
    east_km: float
    north_km: float
    hours_ago: float
    description: str
    email: str | None = None
    steps: tuple[Step, ...] = field(default_factory=tuple)


STORIES: tuple[Story, ...] = (
    Story(
        "ROAD-POTHOLE", 0.4, 0.3, 3, "学院路口有个大坑，电动车差点摔倒。", "resident1@example.org"
    ),
    Story(
        "ROAD-POTHOLE",
        -1.2,
        0.8,
        30,
        "Deep pothole in the cycle lane outside the school gate.",
        "parent@example.org",
        (
            Step(1, "ack"),
            Step(2, "note", "已安排维修班组，预计明天修复。 A repair crew is booked for tomorrow."),
            Step(20, "progress"),
        ),
    ),
    Story(
        "ROAD-POTHOLE",
        2.1,
        -0.6,
        120,
        "路面塌陷，约一米宽。",
        None,
        (
            Step(2, "ack"),
            Step(6, "progress"),
            Step(30, "resolve", "坑洞已用沥青修补。 The hole was filled with asphalt."),
        ),
    ),
    Story(
        "STREETLIGHT-OUT",
        -0.5,
        -1.4,
        48,
        "整条巷子的路灯都不亮，晚上很黑。",
        "night.walker@example.org",
        (Step(3, "ack"), Step(20, "resolve", "已更换灯具。 The lamp has been replaced.")),
    ),
    Story(
        "WASTE-OVERFLOW",
        1.0,
        1.1,
        26,
        "Bins overflowing next to the market since the weekend.",
        None,
        (
            Step(1, "ack"),
            Step(5, "resolve", "已清运并加密收运频次。 Emptied; collections doubled."),
        ),
    ),
    Story(
        "NOISE-NEIGHBOUR",
        0.2,
        1.9,
        10,
        "楼上每晚十二点后还在装修敲打。",
        "sleepless@example.org",
        (
            Step(0.5, "internal", "已联系社区民警上门劝导。"),
            Step(1, "ack"),
        ),
    ),
    Story(
        "FLOOD-STREET",
        -2.0,
        -2.2,
        6,
        "Underpass flooded, cars stuck, water knee-deep.",
        "driver@example.org",
        (
            Step(0.3, "ack"),
            Step(0.5, "note", "Pumps are on the way. 抽水车已出发。"),
            Step(1, "progress"),
        ),
    ),
    Story(
        "FLOOD-STREET",
        -2.3,
        -1.9,
        96,
        "地下通道积水严重。",
        None,
        (
            Step(0.5, "ack"),
            Step(1, "progress"),
            Step(6, "resolve", "积水已排除，雨水口已清淤。 Water pumped away; drains cleared."),
        ),
    ),
    Story(
        "WATER-LEAK",
        3.0,
        0.5,
        50,
        "Water gushing from the pavement near the bus stop.",
        None,
        (
            Step(0.5, "ack"),
            Step(2, "internal", "Valve closed; main to be repaired tonight."),
            Step(14, "resolve", "管道已修复，恢复供水。 The main is repaired; supply restored."),
        ),
    ),
    Story(
        "DRAIN-BLOCKED",
        1.6,
        -1.8,
        72,
        "雨水口被落叶和垃圾堵住了。",
        None,
        (
            Step(2, "ack"),
            Step(
                4,
                "transfer",
                "位于市政道路雨水口，由城管养护。 Road gully: maintained by City Management.",
                "CMB",
            ),
            Step(30, "resolve", "已清掏雨水口。 The gully has been cleared."),
        ),
    ),
    Story(
        "MANHOLE-COVER",
        -0.8,
        2.6,
        40,
        "Manhole cover rocks and clanks when cars pass.",
        "cyclist@example.org",
        (
            Step(1, "ack"),
            Step(3, "schedule", "已订购新井盖，周四安装。 New cover ordered, fitting on Thursday."),
        ),
    ),
    Story("ILLEGAL-PARKING", 0.1, -0.2, 2, "货车长期占用消防通道。", None),
    Story(
        "STREET-VENDOR",
        -0.3,
        0.2,
        20,
        "Stalls blocking the pavement at the lake entrance.",
        None,
        (
            Step(1, "ack"),
            Step(
                3,
                "close",
                "到场时摊贩已离开，将加强巡查。 The stalls had gone when we arrived; more patrols.",
                "no_further_action",
            ),
        ),
    ),
    Story(
        "TREE-FALLEN",
        2.8,
        2.0,
        288,
        "大风刮断树枝，压在电线上。",
        "neighbour@example.org",
        (
            Step(1, "ack"),
            Step(20, "resolve", "断枝已清理。 The broken branch was removed."),
            Step(120, "reopen", "还有一根树枝挂在电线上。 One branch still hangs on the wires."),
        ),
    ),
    Story(
        "BIKE-SHARE",
        0.9,
        -0.4,
        28,
        "Dozens of shared bikes dumped across the metro exit.",
        None,
        (Step(2, "ack"), Step(8, "resolve", "已清理并通知运营企业。 Cleared; operators told.")),
    ),
    Story(
        "SIDEWALK-DAMAGED",
        -1.7,
        0.1,
        192,
        "盲道砖块翘起，老人容易绊倒。",
        None,
        (
            Step(4, "ack"),
            Step(8, "internal", "Contractor booked for Thursday."),
            Step(9, "schedule", "已安排施工队周四修复。 Repairs scheduled for Thursday."),
        ),
    ),
    Story(
        "ELEVATOR-FAULT",
        1.4,
        2.4,
        20,
        "Lift in block 3 stuck between floors twice this week.",
        "tenant@example.org",
        (Step(1, "ack"), Step(2, "note", "已通知维保单位两小时内到场。 Maintenance due in 2 h.")),
    ),
    Story(
        "NOISE-CONSTRUCTION",
        -2.6,
        1.0,
        30,
        "工地凌晨还在打桩。",
        None,
        (
            Step(2, "ack"),
            Step(10, "resolve", "已责令施工单位停止夜间施工。 Night work has been stopped."),
        ),
    ),
    Story(
        "OTHER",
        0.6,
        0.9,
        100,
        "Broken bench and loose railing along the riverside walk.",
        None,
        (
            Step(
                2,
                "transfer",
                "滨水步道设施由城管养护。 Riverside furniture is City Management's.",
                "CMB",
            ),
            Step(5, "ack"),
            Step(
                30,
                "close",
                "属河道管理处资产，已转交。 Owned by the river authority; referred to them.",
                "referred_outside",
            ),
        ),
    ),
    Story(
        "ILLEGAL-ADVERT",
        -0.2,
        -2.5,
        150,
        "小广告贴满了公交站。",
        None,
        (Step(3, "ack"), Step(26, "resolve", "已清除。 Removed.")),
    ),
)


def _photo() -> PhotoUpload:
    image = Image.new("RGB", (160, 120), (96, 110, 120))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 60, 140, 100), fill=(40, 40, 44))
    draw.text((28, 20), "FIXED", fill=(250, 250, 250))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return PhotoUpload(filename="fixed.png", data=buffer.getvalue())


def _attributes(category: Category) -> dict[str, str]:
    """A plausible answer to every required attribute."""
    answers: dict[str, str] = {}
    for attribute in category.attributes:
        if not attribute.required:
            continue
        kind = AttributeType(attribute.datatype)
        if kind in (AttributeType.SINGLEVALUELIST, AttributeType.MULTIVALUELIST):
            answers[attribute.code] = attribute.values[min(1, len(attribute.values) - 1)]["key"]
        elif kind is AttributeType.NUMBER:
            answers[attribute.code] = "10"
        elif kind is AttributeType.DATETIME:
            answers[attribute.code] = "2026-01-01T08:00:00+08:00"
        else:
            answers[attribute.code] = "见描述 / see the description"
    return answers


def _handler(case: Case, users: dict[str, User], operator: User) -> User:
    for user in users.values():
        if user.department_id is not None and user.department_id == case.department_id:
            return user
    return operator


def _run(
    db_session: Session,
    case: Case,
    step: Step,
    *,
    at: datetime,
    users: dict[str, User],
    operator: User,
    policy: CasePolicy,
) -> None:
    user = _handler(case, users, operator)
    actor = auth_service.actor_for(user)
    if step.action in ("ack", "progress", "schedule"):
        target = {"ack": "acknowledged", "progress": "in_progress", "schedule": "action_scheduled"}
        workflow.change_status(
            db_session,
            case,
            to=target[step.action],
            note=step.text,
            user=user,
            actor=actor,
            policy=policy,
            now=at,
        )
    elif step.action in ("note", "internal"):
        workflow.add_note(
            db_session,
            case,
            note=step.text,
            public=step.action == "note",
            user=user,
            actor=actor,
            policy=policy,
            now=at,
        )
    elif step.action == "transfer":
        workflow.transfer(
            db_session,
            case,
            department_code=step.value,
            reason=step.text,
            user=user,
            actor=actor,
            policy=policy,
            now=at,
        )
    elif step.action in ("resolve", "close"):
        uploads = [_photo()] if step.action == "resolve" and case.category.photo_required else []
        workflow.change_status(
            db_session,
            case,
            to="resolved" if step.action == "resolve" else "closed",
            note=step.text,
            close_reason=step.value or None,
            photo_uploads=uploads,
            user=user,
            actor=actor,
            policy=policy,
            now=at,
        )
    elif step.action == "reopen":
        workflow.citizen_reopen(
            db_session,
            case,
            reason=step.text,
            key=case.token or "",
            actor=CITIZEN,
            policy=policy,
            now=at,
        )
    else:  # pragma: no cover - a typo in STORIES
        raise ValueError(f"unknown demo step {step.action!r}")


def seed_live_cases(db_session: Session, *, now: datetime) -> int:
    """Open and work the demo stories; returns how many cases were opened."""
    operator = auth_service.find_user(db_session, email=OPERATOR)
    if operator is None:
        return 0
    users = {
        email: user
        for email in HANDLERS
        if (user := auth_service.find_user(db_session, email=email)) is not None
    }
    categories = {c.service_code: c for c in list_categories(db_session)}
    policy = CasePolicy()
    km_lon = KM_PER_DEG_LAT * math.cos(math.radians(CENTRE[1]))
    opened = 0
    for number, story in enumerate(STORIES, start=1):
        category = categories.get(story.code)
        if category is None:
            continue
        start = now - timedelta(hours=story.hours_ago)
        data = CaseInput(
            service_code=story.code,
            lon=round(CENTRE[0] + story.east_km / km_lon, 6),
            lat=round(CENTRE[1] + story.north_km / KM_PER_DEG_LAT, 6),
            description=story.description,
            attributes=_attributes(category),
            contact_email=story.email,
            source=CaseSource.WEB,
            source_ref=f"{LIVE_PREFIX}{number}",
            requested_at=start,
        )
        case = open_case(db_session, data, actor=CITIZEN, policy=policy, now=start)
        opened += 1
        for step in story.steps:
            at = min(start + timedelta(hours=step.after_h), now - timedelta(minutes=1))
            _run(db_session, case, step, at=at, users=users, operator=operator, policy=policy)
    db_session.flush()
    return opened
