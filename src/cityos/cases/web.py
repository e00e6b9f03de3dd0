"""Every router of the cases domain, in the order the app mounts them."""

from __future__ import annotations

from fastapi import APIRouter

from cityos.cases import (
    admin_api,
    admin_views,
    export_api,
    intake_views,
    open311_api,
    public_api,
    staff_api,
    staff_views,
)

ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        open311_api,  # first: the busiest API of the domain, matched with the fewest checks
        intake_views,
        public_api,
        staff_views,
        export_api,
        staff_api,
        admin_views,
        admin_api,
    )
)
