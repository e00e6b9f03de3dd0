"""The real ``ckanapi`` client from PyPI — its Python library and its command line — reads
our CKAN Action API over HTTP from a live server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import ckanapi
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityos.auth.models import User
from tests.datahub.ckan_support import Catalog, api_key, make_catalog, table_id
from tests.datahub.conftest import MakeDataset
from tests.live_server import live_server

CKANAPI = Path(sys.executable).with_name("ckanapi")


@pytest.fixture
def catalog(make_dataset: MakeDataset) -> Catalog:
    return make_catalog(make_dataset)


@pytest.fixture
def site(database_url: str, engine: Engine, catalog: Catalog) -> Iterator[str]:
    """Our app served by uvicorn in a thread (after the catalogue is stored)."""
    with live_server(database_url, engine) as url:
        yield url


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # `ckanapi dump` starts its workers as plain `ckanapi`: find ours first on the PATH
    env = {**os.environ, "PATH": f"{CKANAPI.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(CKANAPI), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


def test_ckanapi_library_lists_shows_and_searches_datasets(site: str) -> None:
    with ckanapi.RemoteCKAN(site) as remote:
        names = remote.action.package_list()
        package = remote.action.package_show(id="air-quality")
        found = remote.call_action(
            "package_search",
            {"q": "air", "fq": "groups:envi", "facet.field": ["groups", "organization"]},
        )
        organizations = remote.action.organization_list(all_fields=True)
        groups = remote.action.group_list()

    assert names == ["air-quality", "hospitals"]
    assert package["title_translated"]["zh"] == "空气质量站点监测"
    assert package["resources"][0]["datastore_active"] is True
    assert found["count"] == 1
    assert found["results"][0]["name"] == "air-quality"
    items = {item["name"]: item["count"] for item in found["search_facets"]["groups"]["items"]}
    assert items == {"envi": 1, "heal": 1}
    assert [o["name"] for o in organizations] == ["cmb", "water"]
    assert "heal" in groups


def test_ckanapi_library_reads_rows_from_the_datastore(
    site: str, db: Session, catalog: Catalog
) -> None:
    resource = table_id(db, catalog.air)
    with ckanapi.RemoteCKAN(site) as remote:
        rows = remote.action.datastore_search(
            resource_id=resource, filters={"district": "Minghu"}, sort="pm25 desc", limit=2
        )
    with ckanapi.RemoteCKAN(site, get_only=True) as remote:
        by_get = remote.action.datastore_search(resource_id=resource, q="Hexi")

    assert rows["total"] == 3
    assert [r["pm25"] for r in rows["records"]] == [41.0, 35.5]
    assert [r["station"] for r in by_get["records"]] == ["East"]


def test_ckanapi_library_signs_in_with_an_api_key(
    site: str, db: Session, people: dict[str, User]
) -> None:
    key = api_key(db, people["cmb"])
    with ckanapi.RemoteCKAN(site) as anonymous, ckanapi.RemoteCKAN(site, apikey=key) as staff:
        with pytest.raises(ckanapi.NotAuthorized):
            anonymous.action.package_show(id="street-permits")
        permits = staff.action.package_show(id="street-permits")
        private = staff.action.package_search(include_private=True, rows=10)

    assert permits["private"] is True
    assert private["count"] == 4


def test_ckanapi_library_raises_ckans_errors(site: str) -> None:
    with ckanapi.RemoteCKAN(site) as remote:
        with pytest.raises(ckanapi.NotFound, match="nope"):
            remote.action.package_show(id="nope")
        with pytest.raises(ckanapi.ValidationError) as too_many:
            remote.action.package_search(rows=5000)
        with pytest.raises(ckanapi.ValidationError) as bad_fq:
            remote.action.package_search(fq="colour:red")
        with pytest.raises(ckanapi.CKANAPIError, match="Action name not known"):
            remote.action.package_explode()

    assert "1000 or less" in too_many.value.error_dict["rows"][0]
    assert "colour" in bad_fq.value.error_dict["fq"][0]


def test_ckanapi_cli_searches_datasets(site: str, tmp_path: Path) -> None:
    done = run_cli("search", "datasets", "q=hospitals", "-r", site, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    found = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [package["name"] for package in found] == ["hospitals"]


def test_ckanapi_cli_dumps_every_dataset(site: str, tmp_path: Path) -> None:
    output = tmp_path / "datasets.jsonl"
    done = run_cli("dump", "datasets", "--all", "-q", "-r", site, "-O", str(output), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    dumped = [json.loads(line) for line in output.read_text("utf-8").splitlines()]
    assert [package["name"] for package in dumped] == ["air-quality", "hospitals"]
    assert dumped[0]["organization"]["name"] == "cmb"
