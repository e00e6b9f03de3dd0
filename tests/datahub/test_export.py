"""Downloads: every format streamed from the query's frames, formulas neutralised, ETags."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityos.datahub import export
from cityos.datahub.access import ReadAccess
from cityos.datahub.query import parse_row_query
from cityos.datahub.tableschema import TableSchema
from cityos.errors import InvalidInput, NotFound
from tests.datahub.query_support import (
    NAMES,
    OWNER,
    READER,
    ROWS,
    SCHEMA,
    Loaded,
    load,
    loaded_table,
)


@pytest.fixture
def trees(db: Session) -> Iterator[Loaded]:
    yield from loaded_table(db)


def download(
    trees: Loaded,
    fmt: str,
    params: dict[str, str] | None = None,
    access: ReadAccess = OWNER,
    **options: Any,
) -> bytes:
    query = parse_row_query(
        trees.schema, list((params or {}).items()), max_limit=None, default_limit=None
    )
    chunks = export.stream(
        trees.connect,
        dataset=trees.dataset,
        schema=trees.schema,
        version=trees.version,
        query=query,
        access=access,
        fmt=fmt,
        **options,
    )
    return b"".join(chunks)


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


# --- CSV -----------------------------------------------------------------------------------


def test_csv_has_a_header_and_every_row_in_utf8(trees: Loaded) -> None:
    found = csv_rows(download(trees, "csv"))
    assert list(found[0]) == NAMES
    assert [row["name"] for row in found] == [row[0] for row in ROWS]
    oak = found[0]
    assert oak["location"] == "116.4,39.9"
    assert oak["updated"] == "2024-01-05T08:00:00Z"
    assert oak["opened"] == "2024-01-05"
    assert oak["open"] == "true"
    assert oak["tags"] == '["a", "b"]'
    assert found[2]["count"] == ""  # missing
    assert found[9]["note"] == "东城区"
    assert found[7]["note"] == "line\nbreak"
    assert found[8]["note"] == 'say "hi", ok'


def test_csv_neutralises_cells_a_spreadsheet_would_run(trees: Loaded) -> None:
    notes = [row["note"] for row in csv_rows(download(trees, "csv"))]
    assert notes[:4] == ["'=1+2", "plain", "'+cmd", "'-5"]
    assert notes[5] == "'@home"
    # numbers stay numbers: a negative score is not text
    assert float(csv_rows(download(trees, "csv", {"name": "Cedar"}))[0]["score"]) == -2.0


def test_csv_adds_a_byte_order_mark_when_asked(trees: Loaded) -> None:
    assert download(trees, "csv", bom=True).startswith(b"\xef\xbb\xbfname,district")
    assert download(trees, "csv").startswith(b"name,district")


def test_csv_of_many_batches_has_one_header(trees: Loaded) -> None:
    data = download(trees, "csv", {"fields": "name"}, batch_size=3)
    assert data.decode().splitlines() == ["name", *(row[0] for row in ROWS)]


def test_csv_of_an_empty_selection_is_the_header(trees: Loaded) -> None:
    assert download(trees, "csv", {"name": "nobody", "fields": "name,count"}) == b"name,count\n"


def test_csv_masks_and_leaves_out_sensitive_fields(trees: Loaded) -> None:
    (oak,) = csv_rows(download(trees, "csv", {"name": "Oak"}, READER))
    assert "id_card" not in oak
    assert oak["phone"] == "138****5678"


# --- JSON, NDJSON, GeoJSON -----------------------------------------------------------------


def test_json_is_one_array_of_typed_objects(trees: Loaded) -> None:
    found = json.loads(download(trees, "json", batch_size=4))
    assert len(found) == len(ROWS)
    assert found[0] == {
        "name": "Oak",
        "district": "east",
        "count": 5,
        "score": 1.5,
        "open": True,
        "opened": "2024-01-05",
        "updated": "2024-01-05T08:00:00Z",
        "location": [116.4, 39.9],
        "phone": "13812345678",
        "id_card": "110101199003071234",
        "tags": ["a", "b"],
        "note": "=1+2",
    }
    assert found[2]["location"] is None


def test_json_without_json_fields_takes_the_fast_path(trees: Loaded) -> None:
    found = json.loads(download(trees, "json", {"fields": "name,location,updated"}, batch_size=4))
    assert found[0] == {
        "name": "Oak",
        "location": [116.4, 39.9],
        "updated": "2024-01-05T08:00:00Z",
    }
    assert [row["name"] for row in found] == [row[0] for row in ROWS]


def test_json_of_an_empty_selection_is_an_empty_array(trees: Loaded) -> None:
    assert json.loads(download(trees, "json", {"name": "nobody"})) == []


def test_ndjson_is_one_object_per_line(trees: Loaded) -> None:
    lines = download(trees, "ndjson", {"sort": "-count"}, batch_size=3).decode().splitlines()
    assert len(lines) == len(ROWS)
    assert [json.loads(line)["name"] for line in lines[:3]] == ["Elm", "Maple", "Cedar"]
    assert json.loads(lines[2])["note"] == "line\nbreak"


def test_geojson_is_a_feature_collection_of_points(trees: Loaded) -> None:
    found = json.loads(download(trees, "geojson", batch_size=4))
    assert found["type"] == "FeatureCollection"
    features = found["features"]
    assert len(features) == len(ROWS)
    assert features[0]["type"] == "Feature"
    assert features[0]["geometry"] == {"type": "Point", "coordinates": [116.4, 39.9]}
    assert features[0]["properties"]["name"] == "Oak"
    assert features[0]["properties"]["tags"] == ["a", "b"]
    assert "location" not in features[0]["properties"]
    assert features[2]["geometry"] is None


def test_geojson_needs_a_geopoint_field(db: Session) -> None:
    schema = TableSchema(fields=(SCHEMA.field("name"), SCHEMA.field("count")))
    plain = load(db, schema=schema, rows=[{"name": "a", "count": 1}], dataset_id=9004, name="p")
    with pytest.raises(InvalidInput) as caught:
        download(plain, "geojson")
    assert caught.value.message == (
        "GeoJSON needs a geopoint field, and this dataset has none. "
        "Formats: csv, json, ndjson, parquet, xlsx."
    )


def test_geojson_needs_its_geopoint_among_the_fields(trees: Loaded) -> None:
    with pytest.raises(InvalidInput, match="add it to fields"):
        download(trees, "geojson", {"fields": "name"})


def test_an_unknown_format_lists_the_formats(trees: Loaded) -> None:
    with pytest.raises(NotFound, match="use one of csv, json, ndjson, geojson, parquet, xlsx"):
        download(trees, "exe")


# --- Parquet and XLSX ----------------------------------------------------------------------


def test_parquet_keeps_the_types(trees: Loaded) -> None:
    table = pq.read_table(io.BytesIO(download(trees, "parquet", batch_size=4)))
    assert table.num_rows == len(ROWS)
    assert table.column_names == NAMES
    found = table.to_pylist()
    assert found[0]["count"] == 5
    assert found[0]["updated"] == datetime(2024, 1, 5, 8, 0, tzinfo=UTC)
    assert found[0]["location"] == "116.4,39.9"
    assert found[0]["note"] == "=1+2"  # Parquet is not a spreadsheet: the text as stored
    assert found[2]["count"] is None


def test_parquet_of_an_empty_selection_has_the_columns(trees: Loaded) -> None:
    table = pq.read_table(io.BytesIO(download(trees, "parquet", {"name": "nobody"})))
    assert table.num_rows == 0
    assert table.column_names == NAMES


def test_xlsx_keeps_formula_like_text_as_text(trees: Loaded) -> None:
    book = load_workbook(io.BytesIO(download(trees, "xlsx", batch_size=4)))
    sheet = book["trees"]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == NAMES
    assert len(values) == len(ROWS) + 1
    assert values[1][0] == "Oak"
    assert values[1][7] == "116.4,39.9"
    note = sheet.cell(row=2, column=NAMES.index("note") + 1)
    assert note.value == "=1+2"
    assert note.data_type == "s"
    assert values[5][NAMES.index("note")] == "under_score"


def prepare(trees: Loaded, fmt: str, params: dict[str, str], **options: Any) -> export.Download:
    query = parse_row_query(trees.schema, list(params.items()), max_limit=None, default_limit=None)
    return export.prepare(
        trees.db,
        dataset=trees.dataset,
        schema=trees.schema,
        version=trees.version,
        query=query,
        access=OWNER,
        fmt=fmt,
        **options,
    )


def test_xlsx_refuses_more_rows_than_a_sheet_holds(trees: Loaded) -> None:
    with pytest.raises(InvalidInput) as caught:
        prepare(trees, "xlsx", {}, xlsx_max_rows=4)
    assert caught.value.message == (
        "XLSX holds at most 4 rows and this selection has 10. Filter it (or add limit=…), or "
        "download csv or parquet."
    )
    assert prepare(trees, "xlsx", {"district": "east"}, xlsx_max_rows=4).fmt == "xlsx"
    assert prepare(trees, "xlsx", {"limit": "4"}, xlsx_max_rows=4).fmt == "xlsx"
    assert prepare(trees, "csv", {}, xlsx_max_rows=4).fmt == "csv"


# --- headers -------------------------------------------------------------------------------


def test_prepare_names_the_file_and_its_media_type(trees: Loaded) -> None:
    made = prepare(trees, "csv", {})
    assert made.filename == "trees.csv"
    assert made.media_type == "text/csv; charset=utf-8"
    assert made.last_modified == "Sun, 02 Jun 2024 10:00:00 GMT"
    assert prepare(trees, "geojson", {}).media_type == "application/geo+json"


def test_the_etag_changes_with_the_data_the_question_and_the_reader(trees: Loaded) -> None:
    def tag(**changes: Any) -> str:
        options: dict[str, Any] = {"version": 1, "fmt": "csv", "query_string": "", "access": OWNER}
        options.update(changes)
        return export.etag_for(trees.dataset, **options)

    base = tag()
    assert base == tag()
    assert base != tag(fmt="json")
    assert base != tag(query_string="district=east")
    assert base != tag(access=READER)
    assert base != tag(version=2)
    trees.dataset.data_updated_at = datetime(2024, 6, 3, tzinfo=UTC)
    assert base != tag()


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abd"', False),
        ("", False),
        (None, False),
    ],
)
def test_if_none_match_compares_etags(header: str | None, matches: bool) -> None:
    assert export.not_modified(header, '"abc"') is matches


def test_a_download_stopped_early_leaves_the_connection_usable(db: Session) -> None:
    schema = TableSchema(fields=(SCHEMA.field("name"), SCHEMA.field("count")))
    given = [{"name": f"row {i} " + "x" * 100, "count": i} for i in range(3000)]
    made = load(db, schema=schema, rows=given, dataset_id=9006, name="long")
    query = parse_row_query(made.schema, [], max_limit=None, default_limit=None)
    chunks = export.stream(
        made.connect,
        dataset=made.dataset,
        schema=made.schema,
        version=made.version,
        query=query,
        access=OWNER,
        fmt="csv",
        batch_size=100,
    )
    first = next(chunks)
    assert first.startswith(b"name,count\n")
    chunks.close()  # the client went away
    assert db.execute(select(func.count()).select_from(made.table)).scalar_one() == 3000
