"""The demo city's service catalog and routing rules, from the packaged ``catalog.yaml``.

The file has the format of ``cityos cases catalog export``; seeding imports it like
``cityos cases catalog import`` would, so seeding twice changes nothing the second time.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from cityos.cases import catalog_file
from cityos.demo.people import DEMO_ACTOR

CATALOG_FILE = "catalog.yaml"


def demo_catalog() -> Any:
    """The demo catalog document, parsed from the packaged YAML file."""
    text = resources.files("cityos.demo").joinpath(CATALOG_FILE).read_text("utf-8")
    return catalog_file.loads(text, fmt="yaml", name=CATALOG_FILE)


def seed_catalog(db_session: Session) -> str:
    document = demo_catalog()
    report = catalog_file.import_document(db_session, document, actor=DEMO_ACTOR)
    summary = (
        f"catalog: {len(document['categories'])} categories in {len(document['groups'])} "
        f"groups, {len(document['routing'])} routing rules"
    )
    if not (report.categories_created or report.categories_updated or report.rules_set):
        return f"{summary} (already seeded)"
    return summary
