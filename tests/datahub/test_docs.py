"""docs/datahub.md lists every endpoint of the data hub (with its methods)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

DOCS = Path(__file__).resolve().parents[2] / "docs" / "datahub.md"
PREFIXES = ("/api/data", "/api/3/action", "/catalog")


def test_every_data_hub_endpoint_is_documented(client: TestClient) -> None:
    text = DOCS.read_text("utf-8")
    spec = client.get("/openapi.json").json()
    found = 0
    for path, operations in spec["paths"].items():
        if not path.startswith(PREFIXES):
            continue
        found += 1
        for method in operations:
            entry = f"`{method.upper()} {path}`"
            assert entry in text, f"{entry} is not in docs/datahub.md"
    assert found >= 20
