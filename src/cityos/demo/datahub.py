"""The demo city's data hub: 41 datasets of 19 departments, sharing requests and usage.

Everything goes through the data hub's own services: datasets and schemas through
:mod:`cityos.datahub.service`, rows through :func:`cityos.datahub.ingest.load_file` (CSV files
written with polars into a temporary folder, so every dataset has a load with its
validation report), sharing through :mod:`cityos.datahub.sharing`. The data is INVENTED
(every description says so); people, identity numbers (``99…``), phones (``1700000…``)
and plates (``浙Z…``) are obviously fake.

What is seeded (definitions in :mod:`cityos.demo.datahub_data`, rows in
:mod:`cityos.demo.datahub_rows` and :mod:`cityos.demo.datahub_series`):

1. the built-in data elements;
2. 41 datasets — most open, 4 shared, 5 restricted with sensitive fields — with Table
   Schemas that use data elements, primary keys, filterable fields and three foreign keys
   across datasets (hospital beds → population by ``district_code, year``; building
   inspections → construction permits by ``permit_no``; hourly air quality → stations);
   ``air-quality-hourly`` has ``big_rows`` rows (1,000,000 by default);
3. ``building-inspections`` gets two more loads of a file with 5 bad rows: one with
   ``on_error=reject`` (rejected) and one with ``quarantine`` (partial: 25 rows stored,
   5 quarantined);
4. ``noise-monitoring-monthly`` (monthly) is made stale on purpose: after its load, its
   ``data_updated_at`` (and the load's times) are set ``STALE_DAYS`` days back;
5. department users for sharing and five requests: approved with fewer fields and an
   expiry, approved, refused, and two pending;
6. 30 days of downloads and API calls per dataset (``DailyUsage`` rows).

Idempotent: existing datasets are skipped (not reloaded), users, requests and usage are
added only when missing.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.audit.service import Actor
from cityos.auth import service as auth_service
from cityos.auth.models import User
from cityos.datahub import elements, ingest, service, sharing
from cityos.datahub.models import (
    Access,
    DailyUsage,
    Dataset,
    Load,
    LoadMode,
    LoadStatus,
    OnError,
    SharingRequest,
)
from cityos.db import utcnow
from cityos.demo import datahub_places  # noqa: F401 - registers its row generators
from cityos.demo.city import CITY_CODE
from cityos.demo.datahub_data import (
    BIG,
    DEMO_NOTE_EN,
    DEMO_NOTE_ZH,
    HISTORY,
    SPECS,
    STALE,
    STALE_DAYS,
    Spec,
)
from cityos.demo.datahub_geo import Geography
from cityos.demo.datahub_rows import Context, bad_inspections
from cityos.demo.datahub_series import covered
from cityos.demo.people import DATAHUB_USERS, DEMO_ACTOR, DEMO_PASSWORD
from cityos.geo import service as geo_service

BIG_ROWS = 1_000_000
USAGE_DAYS = 30


@dataclass(frozen=True)
class RequestPlan:
    dataset: str
    requester: str  # email
    purpose: str
    fields: tuple[str, ...] | None  # asked for; None = all
    asked_days_ago: int
    decider: str | None = None  # email; None = still pending
    approve: bool = True
    granted: tuple[str, ...] | None = None  # None = what was asked
    expires_in_days: int | None = None
    decided_days_ago: int = 0
    note: str = ""


REQUESTS: tuple[RequestPlan, ...] = (
    RequestPlan(
        "social-assistance-recipients",
        "steward.health@example.org",
        "家庭医生团队对低保和特困对象开展上门随访，需要名单和所在区县。"
        " Family doctor teams visit people on assistance at home; we need the list.",
        ("case_no", "person_name", "id_card", "district_code", "assistance", "since"),
        asked_days_ago=12,
        decider="steward.civil@example.org",
        granted=("case_no", "person_name", "district_code", "assistance", "since"),
        expires_in_days=180,
        decided_days_ago=9,
        note="同意，不含身份证号；半年后到期。Approved without identity numbers, for six months.",
    ),
    RequestPlan(
        "public-rental-tenants",
        "staff.grid@example.org",
        "网格员核实公租房实际居住情况，需要合同、地址和家庭人口。"
        " Grid officers check who actually lives in public rental flats.",
        ("contract_no", "address", "district_code", "household_size"),
        asked_days_ago=30,
        decider="steward.housing@example.org",
        expires_in_days=365,
        decided_days_ago=26,
        note="同意，一年有效。Approved for one year.",
    ),
    RequestPlan(
        "traffic-violations",
        "staff.market@example.org",
        "核查网约车平台车辆的违法记录，用于平台信用评价。"
        " To rate ride-hailing platforms by their vehicles' violations.",
        None,
        asked_days_ago=20,
        decider="steward.psb@example.org",
        approve=False,
        decided_days_ago=18,
        note="号牌属个人信息，不提供明细；请使用公开的统计数据。"
        " Plates are personal data: use the open statistics instead.",
    ),
    RequestPlan(
        "social-assistance-recipients",
        "staff.edu@example.org",
        "为困难家庭学生落实学费减免和营养餐补助，需要救助对象名单。"
        " Tuition waivers and free meals for pupils of families on assistance.",
        ("case_no", "person_name", "district_code", "assistance", "household_size"),
        asked_days_ago=3,
    ),
    RequestPlan(
        "hazardous-chemical-enterprises",
        "staff.fire@example.org",
        "制定危险化学品企业灭火救援预案，需要企业位置、危险源等级和安全负责人联系方式。"
        " Fire and rescue plans for hazardous chemical sites.",
        None,
        asked_days_ago=2,
    ),
)


def seed_datahub(
    db_session: Session, *, big_rows: int | None = None, now: datetime | None = None
) -> str:
    """Seed the demo data hub (see the module's docstring); a one-line summary.

    ``big_rows``: the rows of ``air-quality-hourly`` (default: the module's ``BIG_ROWS``,
    read at call time so tests of the whole demo can make it small).
    """
    moment = now or utcnow()
    big_rows = BIG_ROWS if big_rows is None else big_rows
    geo = Geography(db_session)
    if not geo.ready:
        return "data hub: skipped (the city map is not seeded)"
    elements.seed_builtin(db_session)
    context = Context(geo=geo, today=moment.date(), big_rows=big_rows)
    area_codes = geo_service.area_codes(db_session)
    created = 0
    with TemporaryDirectory(prefix="cityos-demo-") as folder:
        for spec in SPECS:
            if service.find_dataset(db_session, name=spec.name) is not None:
                continue
            _create(db_session, spec, context, Path(folder), area_codes, moment)
            created += 1
            context.frames.pop(BIG, None)  # a million rows: not kept once stored
    people = _seed_users(db_session)
    asked = _seed_requests(db_session, people, moment)
    _seed_usage(db_session, moment)
    return _summary(db_session, created=created, asked=asked)


# --- datasets -------------------------------------------------------------------------------


def _metadata(db_session: Session, spec: Spec, frame: pl.DataFrame) -> dict[str, object]:
    department = auth_service.get_department(db_session, code=spec.department)
    start, end = covered(frame[spec.time_field]) if spec.time_field else (None, None)
    return {
        "name": spec.name,
        "title_zh": spec.title_zh,
        "title_en": spec.title_en,
        "description_zh": f"{spec.about_zh}\n\n{DEMO_NOTE_ZH}",
        "description_en": f"{spec.about_en}\n\n{DEMO_NOTE_EN}",
        "themes": list(spec.themes),
        "keywords": list(spec.keywords),
        "licence": spec.licence,
        "frequency": spec.frequency.value,
        "access": spec.access.value,
        "spatial": CITY_CODE,
        "temporal_start": start,
        "temporal_end": end,
        "contact_name": f"{department.name_zh}数据专员 / Data officer, {department.name_en}",
        "contact_email": f"data.{spec.department.lower()}@example.org",
        "schema": spec.descriptor(),
    }


def _load(
    db_session: Session,
    dataset: Dataset,
    frame: pl.DataFrame,
    path: Path,
    area_codes: frozenset[str],
    *,
    mode: LoadMode = LoadMode.APPEND,
    on_error: OnError = OnError.REJECT,
) -> Load:
    schema = service.current_schema(db_session, dataset=dataset)
    if schema is None:  # pragma: no cover - every demo dataset has a schema
        raise RuntimeError(f"demo dataset {dataset.name} has no schema")
    frame.select(schema.names).write_csv(path)
    return ingest.load_file(
        db_session,
        dataset=dataset,
        schema=schema,
        version=dataset.schema_version or 1,
        path=path,
        filename=path.name,
        options=ingest.LoadOptions(mode=mode, on_error=on_error),
        actor=DEMO_ACTOR,
        area_codes=area_codes,
    )


def _create(
    db_session: Session,
    spec: Spec,
    context: Context,
    folder: Path,
    area_codes: frozenset[str],
    moment: datetime,
) -> Dataset:
    frame = context.frame(spec.name)
    dataset = service.create_dataset(
        db_session,
        data=_metadata(db_session, spec, frame),
        department_code=spec.department,
        actor=DEMO_ACTOR,
    )
    load = _load(db_session, dataset, frame, folder / f"{spec.name}.csv", area_codes)
    if load.status != LoadStatus.COMMITTED.value:
        raise RuntimeError(f"the demo dataset {spec.name} did not load: {load.report}")
    if spec.name == HISTORY:
        _history(db_session, dataset, context, folder, area_codes)
    if spec.name == STALE:
        _make_stale(db_session, dataset, load, moment)
    return dataset


def _history(
    db_session: Session,
    dataset: Dataset,
    context: Context,
    folder: Path,
    area_codes: frozenset[str],
) -> None:
    """A later file with 5 bad rows: rejected whole, then loaded with quarantine."""
    bad = bad_inspections(context)
    for on_error, expected in (
        (OnError.REJECT, LoadStatus.REJECTED),
        (OnError.QUARANTINE, LoadStatus.PARTIAL),
    ):
        path = folder / f"{dataset.name}-week-{on_error.value}.csv"
        load = _load(db_session, dataset, bad, path, area_codes, on_error=on_error)
        if load.status != expected.value:
            raise RuntimeError(
                f"the demo's {on_error.value} load of {dataset.name} ended {load.status}, "
                f"not {expected.value}: {load.report}"
            )


def _make_stale(db_session: Session, dataset: Dataset, load: Load, moment: datetime) -> None:
    """The deliberately stale dataset: its only load happened ``STALE_DAYS`` days ago."""
    then = moment - timedelta(days=STALE_DAYS)
    dataset.data_updated_at = then
    load.started_at = then - timedelta(seconds=2)
    load.finished_at = then
    db_session.flush()


# --- sharing ----------------------------------------------------------------------------


def _seed_users(db_session: Session) -> dict[str, User]:
    people: dict[str, User] = {}
    for email, roles, department, name in DATAHUB_USERS:
        user = auth_service.find_user(db_session, email=email)
        if user is None:
            user = auth_service.create_user(
                db_session,
                email=email,
                password=DEMO_PASSWORD,
                display_name=name,
                roles=roles,
                department_code=department,
                actor=DEMO_ACTOR,
            )
        people[email] = user
    return people


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, label=user.email)


def _seed_requests(db_session: Session, people: dict[str, User], moment: datetime) -> int:
    """The planned requests that are missing (one per dataset and department); how many."""
    made = 0
    for plan in REQUESTS:
        dataset = service.find_dataset(db_session, name=plan.dataset)
        requester = people[plan.requester]
        if dataset is None:
            continue
        exists = db_session.scalar(
            select(func.count())
            .select_from(SharingRequest)
            .where(
                SharingRequest.dataset_id == dataset.id,
                SharingRequest.department_id == requester.department_id,
            )
        )
        if exists:
            continue
        request = sharing.request_access(
            db_session,
            dataset=dataset,
            user=requester,
            purpose=plan.purpose,
            fields=list(plan.fields) if plan.fields is not None else None,
            actor=_actor(requester),
        )
        asked = moment - timedelta(days=plan.asked_days_ago)
        request.created_at = asked
        if plan.decider is not None:
            decider = people[plan.decider]
            decided = moment - timedelta(days=plan.decided_days_ago, hours=3)
            expires = (
                moment + timedelta(days=plan.expires_in_days)
                if plan.expires_in_days is not None
                else None
            )
            sharing.decide_request(
                db_session,
                request_id=request.id,
                approve=plan.approve,
                user=decider,
                fields=list(plan.granted) if plan.granted is not None else None,
                expires_at=expires,
                note=plan.note,
                actor=_actor(decider),
                now=decided,
            )
        made += 1
    db_session.flush()
    return made


# --- usage and summary -------------------------------------------------------------------


def _seed_usage(db_session: Session, moment: datetime) -> None:
    """30 days of downloads and API calls for every demo dataset that has none yet."""
    names = [spec.name for spec in SPECS]
    datasets = db_session.scalars(select(Dataset).where(Dataset.name.in_(names))).all()
    counted = set(db_session.scalars(select(DailyUsage.dataset_id).distinct()).all())
    today = moment.date()
    for dataset in datasets:
        if dataset.id in counted:
            continue
        rng = np.random.default_rng(zlib.crc32(f"usage:{dataset.name}".encode()))
        interest = rng.lognormal(1.6, 0.9) * (0.15 if dataset.access == Access.RESTRICTED else 1)
        calls = 8.0 if dataset.name in (BIG, "bus-stops", "parking-lots") else 2.5
        days = [today - timedelta(days=offset) for offset in range(USAGE_DAYS)]
        weekday = np.array([0.45 if day.weekday() >= 5 else 1.0 for day in days])
        downloads = rng.poisson(interest * weekday)
        api = rng.poisson(interest * calls * (0.7 + 0.3 * weekday))
        db_session.add_all(
            DailyUsage(dataset_id=dataset.id, day=day, downloads=int(d), api_calls=int(a))
            for day, d, a in zip(days, downloads, api, strict=True)
        )
    db_session.flush()


def _summary(db_session: Session, *, created: int, asked: int) -> str:
    names = [spec.name for spec in SPECS]
    datasets = db_session.scalars(select(Dataset).where(Dataset.name.in_(names))).all()
    restricted = sum(1 for d in datasets if d.access == Access.RESTRICTED.value)
    rows = sum(d.row_count for d in datasets)
    ids = [d.id for d in datasets]
    requests = db_session.scalar(
        select(func.count()).select_from(SharingRequest).where(SharingRequest.dataset_id.in_(ids))
    )
    return (
        f"data hub: {len(datasets)} datasets ({restricted} restricted, {created} new), "
        f"{rows:,} rows, {requests or 0} sharing requests ({asked} new)"
    )
