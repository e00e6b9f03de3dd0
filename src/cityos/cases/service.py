"""The cases domain's interface: what other domains, the web layer and the CLI call.

Sensor alerts and other systems open cases with :func:`open_case` (``CaseInput.source`` and
``source_ref`` record where a case came from), exactly as the web form and Open311 do.
"""

from __future__ import annotations

from cityos.cases.board import (
    AreaCount,
    AreaFilter,
    BoardCounts,
    BoardQuality,
    CasePoint,
    CategoryCount,
    DepartmentSla,
    board_counts,
    board_quality,
    hourly_counts,
    open_by_area,
    recent_cases,
    sla_by_department,
    top_categories,
)
from cityos.cases.catalog import (
    CatalogDocument,
    get_category,
    list_categories,
    list_groups,
    search_categories,
)
from cityos.cases.intake import CaseInput, CasePolicy, Nearby, distance_m, nearby_open, open_case
from cityos.cases.models import CaseSource, CaseStatus, CloseReason, Priority
from cityos.cases.photos import PhotoUpload
from cityos.cases.queries import CaseFilter, CasePage, Order, search_cases
from cityos.cases.routing import RoutingDecision, route, route_many
from cityos.cases.sla import SlaState
from cityos.cases.sla import state as sla_state
from cityos.cases.stats import CaseStats, GroupBy, GroupStats, case_stats, city_zone
from cityos.cases.workflow import (
    EscalationReport,
    add_note,
    assign,
    can_handle,
    change_status,
    check_sla,
    citizen_reopen,
    follow,
    get_case,
    get_photo,
    history,
    is_reporter_key,
    list_photos,
    mark_duplicate,
    transfer,
    unfollow,
)

__all__ = [
    "AreaCount",
    "AreaFilter",
    "BoardCounts",
    "BoardQuality",
    "CaseFilter",
    "CaseInput",
    "CasePage",
    "CasePoint",
    "CasePolicy",
    "CaseSource",
    "CaseStats",
    "CaseStatus",
    "CatalogDocument",
    "CategoryCount",
    "CloseReason",
    "DepartmentSla",
    "EscalationReport",
    "GroupBy",
    "GroupStats",
    "Nearby",
    "Order",
    "PhotoUpload",
    "Priority",
    "RoutingDecision",
    "SlaState",
    "add_note",
    "assign",
    "board_counts",
    "board_quality",
    "can_handle",
    "case_stats",
    "change_status",
    "check_sla",
    "citizen_reopen",
    "city_zone",
    "distance_m",
    "follow",
    "get_case",
    "get_category",
    "get_photo",
    "history",
    "hourly_counts",
    "is_reporter_key",
    "list_categories",
    "list_groups",
    "list_photos",
    "mark_duplicate",
    "nearby_open",
    "open_by_area",
    "open_case",
    "recent_cases",
    "route",
    "route_many",
    "search_cases",
    "search_categories",
    "sla_by_department",
    "sla_state",
    "top_categories",
    "transfer",
    "unfollow",
]
