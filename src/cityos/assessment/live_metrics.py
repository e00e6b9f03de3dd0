"""The live platform metrics a framework may name as an indicator's source (``kind: live``).

This registry is the contract between frameworks (which refer to a metric by its code) and
``assessment/live.py`` (which computes each metric per unit from the citizen-services, data
hub and sensing modules). A framework naming a code that is not listed here is refused.

Per-resident metrics are computed already divided by the unit's residents (per 10,000 or
100,000, as the code says), so frameworks give them no denominator.
"""

from __future__ import annotations

from typing import NamedTuple

from cityos.assessment.framework import Direction


class LiveMetric(NamedTuple):
    name_en: str
    name_zh: str
    unit: str
    direction: Direction


LIVE_METRICS: dict[str, LiveMetric] = {
    "cases.resolved_within_sla_pct": LiveMetric(
        "Cases resolved within their SLA", "诉求按时办结率", "%", Direction.HIGHER
    ),
    "cases.median_hours_to_resolve": LiveMetric(
        "Median time to resolve a case", "诉求办结时长中位数", "h", Direction.LOWER
    ),
    "cases.reopen_rate_pct": LiveMetric(
        "Cases reopened after closing", "诉求重开率", "%", Direction.LOWER
    ),
    "cases.per_10k_residents": LiveMetric(
        "Cases per 10,000 residents", "每万人诉求量", "per 10,000 residents", Direction.LOWER
    ),
    "datahub.open_datasets_per_100k": LiveMetric(
        "Open datasets per 100,000 residents",
        "每十万人开放数据集数",
        "per 100,000 residents",
        Direction.HIGHER,
    ),
    "datahub.fresh_pct": LiveMetric(
        "Datasets updated on schedule", "数据集按期更新率", "%", Direction.HIGHER
    ),
    "datahub.sharing_granted": LiveMetric(
        "Data-sharing requests granted", "数据共享申请通过率", "%", Direction.HIGHER
    ),
    "datahub.median_days_to_grant": LiveMetric(
        "Median time to grant a data-sharing request",
        "数据共享审批时长中位数",
        "d",
        Direction.LOWER,
    ),
    "sensing.sensors_per_km2": LiveMetric(
        "Sensors per km²", "每平方公里传感器数", "per km²", Direction.HIGHER
    ),
    "sensing.reporting_pct": LiveMetric("Sensors reporting", "传感器在线率", "%", Direction.HIGHER),
    "sensing.alert_response_minutes": LiveMetric(
        "Median alert response time", "告警响应时长中位数", "min", Direction.LOWER
    ),
}
