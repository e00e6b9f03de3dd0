"""The database side of Open311: pages of requests, what their records need, look-ups.

A page is read as plain columns (:class:`open311.CaseView`) by one indexed query, and
everything its records need — categories, department names, photos, media URLs, and on
request histories and areas — is loaded with one query each for the whole page (no N+1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload, selectinload

from cityos.auth import service as auth_service
from cityos.auth.models import ApiKey
from cityos.cases.models import Case, CasePhoto, CaseSource, CaseUpdate, Category, PhotoKind
from cityos.cases.open311 import VIEW_COLUMNS, CaseView, RecordContext, photo_url
from cityos.cases.open311_params import RequestSearch
from cityos.cases.queries import apply_filter
from cityos.cases.workflow import public_histories
from cityos.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from cityos.geo import service as geo_service
from cityos.geo.models import AreaLevel

_COLUMNS = tuple(getattr(Case, name) for name in VIEW_COLUMNS)
# Channels whose reporters may send a media_url instead of photos (the web form uploads
# photos; imports have no history of their own).
_MEDIA_URL_SOURCES = frozenset(
    {CaseSource.OPEN311, CaseSource.SENSOR, CaseSource.SYSTEM, CaseSource.STAFF}
)


def category_ids(db_session: Session, codes: Sequence[str]) -> list[int]:
    """The ids of these service codes; InvalidInput naming any unknown one."""
    found = dict(
        db_session.execute(
            select(Category.service_code, Category.id).where(Category.service_code.in_(codes))
        ).all()
    )
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise InvalidInput(
            f"Unknown service_code {', '.join(unknown)}; see /open311/v2/services.json."
        )
    return [found[code] for code in codes]


def search_page(
    db_session: Session, search: RequestSearch, *, now: datetime, extensions: bool
) -> list[CaseView]:
    """One page of requests, newest first, as plain rows."""
    selected = search.selected
    query = select(*_COLUMNS, *((Case.attributes,) if extensions else ()))
    if selected.ids is None and selected.service_codes:
        wanted = category_ids(db_session, selected.service_codes)
        query = query.where(Case.category_id.in_(wanted))
        selected = replace(selected, service_codes=None)
    query = apply_filter(db_session, query, selected, now=now)
    query = (
        query.order_by(Case.requested_at.desc(), Case.id.desc())
        .limit(search.page_size)
        .offset((search.page - 1) * search.page_size)
    )
    rows = db_session.execute(query).all()
    if extensions:
        return [CaseView.from_values(row[:-1], row[-1]) for row in rows]
    return [CaseView.from_values(row) for row in rows]


def categories_of(
    db_session: Session, cases: Sequence[CaseView], *, with_attributes: bool
) -> dict[int, Category]:
    wanted = {case.category_id for case in cases}
    if not wanted:
        return {}
    loading = selectinload if with_attributes else lazyload
    query = (
        select(Category)
        .where(Category.id.in_(wanted))
        .options(lazyload(Category.group), loading(Category.attributes))
    )
    return {category.id: category for category in db_session.scalars(query)}


def load_context(
    db_session: Session,
    cases: Sequence[CaseView],
    *,
    zone: tzinfo,
    base_url: str,
    notes: bool,
    extensions: bool,
    categories: Mapping[int, Category] | None = None,
) -> RecordContext:
    """Categories, departments, media, and (when asked) histories and areas: no N+1."""
    if categories is None:
        categories = categories_of(db_session, cases, with_attributes=extensions)
    departments = (
        {d.id: d.name_en for d in auth_service.list_departments(db_session)}
        if any(case.department_id is not None for case in cases)
        else {}
    )
    histories = public_histories(db_session, cases=cases) if notes and cases else None
    media = _media(db_session, cases, base_url, histories)
    areas = None
    if extensions and cases:
        located = geo_service.locate_many(
            db_session, lons=[case.lon for case in cases], lats=[case.lat for case in cases]
        )
        areas = {
            case.id: located.lineage(case.area_id) or located.location(i).areas
            for i, case in enumerate(cases)
        }
    return RecordContext(zone, categories, departments, media, histories, areas)


def _media(
    db_session: Session,
    cases: Sequence[CaseView],
    base_url: str,
    histories: Mapping[int, Sequence[CaseUpdate]] | None,
) -> dict[int, str]:
    """Per case: its first report photo (else its first photo), else the media_url sent."""
    if not cases:
        return {}
    photos: dict[int, tuple[bool, int]] = {}
    rows = db_session.execute(
        select(CasePhoto.case_id, CasePhoto.id, CasePhoto.kind)
        .where(CasePhoto.case_id.in_([case.id for case in cases]))
        .order_by(CasePhoto.id)
    )
    for case_id, photo_id, kind in rows:
        seen = photos.get(case_id)
        if seen is None or (not seen[0] and kind == PhotoKind.REPORT):
            photos[case_id] = (kind == PhotoKind.REPORT, photo_id)
    media = {case_id: photo_url(base_url, case_id, p) for case_id, (_, p) in photos.items()}
    missing = [c.id for c in cases if c.id not in media and c.source in _MEDIA_URL_SOURCES]
    if not missing:
        return media
    if histories is not None:
        pairs = [
            (case_id, update.details)
            for case_id in missing
            for update in histories.get(case_id, ())
            if update.kind == "submitted"
        ]
    else:
        found = db_session.execute(
            select(CaseUpdate.case_id, CaseUpdate.details).where(
                CaseUpdate.case_id.in_(missing), CaseUpdate.kind == "submitted"
            )
        )
        pairs = [(case_id, details) for case_id, details in found]
    for case_id, details in pairs:
        url = (details or {}).get("media_url")
        if isinstance(url, str) and url:
            media[case_id] = url
    return media


# --- look-ups ----------------------------------------------------------------------------


def check_jurisdiction(db_session: Session, value: str | None) -> None:
    """``jurisdiction_id`` is optional; when given it must be the city's code."""
    if value is None:
        return
    codes = [area.code for area in geo_service.list_areas(db_session, level=AreaLevel.CITY)]
    if value not in codes:
        served = ", ".join(codes) or "no city yet"
        raise NotFound(
            f"Unknown jurisdiction_id {value!r}: this endpoint serves {served}. "
            "Leave jurisdiction_id out, or send the city's code."
        )


def api_key_for(db_session: Session, raw_key: str | None) -> ApiKey:
    """The API key a client sent as ``api_key``; Forbidden (403) when missing or not valid."""
    if not raw_key:
        raise Forbidden(
            "api_key is required to create requests. Ask the city for an API key for your "
            "app and send it as the api_key field."
        )
    parts = raw_key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != auth_service.API_KEY_PREFIX:
        raise Forbidden("api_key is not a CityOS API key (they look like cos_<prefix>_<secret>).")
    try:
        return auth_service.api_key_for(db_session, raw_key=raw_key)
    except Unauthorized as error:
        raise Forbidden(f"api_key was refused: {error.message}") from None


def case_for_token(db_session: Session, token: str) -> int:
    """The id of the request with this token (tokens are given when a request is created)."""
    found = db_session.scalar(select(Case.id).where(Case.token == token)) if token else None
    if found is None:
        raise NotFound(f"There is no request with the token {token!r}.")
    return found


def catalog_changeset(categories: Sequence[Category]) -> datetime | None:
    """When the service list last changed (for discovery's ``changeset``)."""
    return max((category.updated_at for category in categories), default=None)
