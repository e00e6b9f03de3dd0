"""Reading XLSX, JSON, NDJSON, GeoJSON and Parquet; formats, file names and zip bombs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cityos.datahub.readers import (
    ROW,
    ReaderLimits,
    open_source,
    resolve_format,
    safe_filename,
)
from cityos.errors import InvalidInput, PayloadTooLarge
from tests.datahub.readers_support import (
    read_all,
    set_cached_values,
    write,
    xlsx_file,
    zip_bomb,
)

# --- formats and file names ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("a.CSV", "csv"),
        ("a.txt", "csv"),
        ("a.tsv", "tsv"),
        ("a.xlsx", "xlsx"),
        ("a.json", "json"),
        ("a.jsonl", "ndjson"),
        ("a.ndjson", "ndjson"),
        ("a.geojson", "geojson"),
        ("a.parquet", "parquet"),
    ],
)
def test_the_format_comes_from_the_extension(filename: str, expected: str) -> None:
    assert resolve_format(filename) == expected


def test_an_explicit_format_wins_over_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "export.dat", "a\tb\n1\t2\n")
    source, frame = read_all(path, format="tsv")
    assert source.info.format == "tsv"
    assert frame.rows() == [("1", "2", 2)]


def test_an_unknown_format_lists_the_accepted_ones() -> None:
    with pytest.raises(InvalidInput, match=r"Cannot read the file name 'notes.docx'") as caught:
        resolve_format("notes.docx")
    assert "csv, txt, tsv" in caught.value.message
    with pytest.raises(InvalidInput, match="format 'pdf'"):
        resolve_format("x.csv", "pdf")


def test_old_xls_files_are_refused_with_how_to_convert(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"save it as an Excel workbook \(.xlsx\)"):
        resolve_format("budget.xls")
    ole = write(tmp_path / "budget.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    with pytest.raises(InvalidInput, match=r"old Excel .xls file"):
        open_source(ole, filename="budget.xlsx")


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.csv", "cmd.csv"),
        ("C:\\Users\\me\\data.csv", "data.csv"),
        ("data/x/..", "upload"),
        ("..", "upload"),
        ("", "upload"),
        (".hidden.csv", "hidden.csv"),
        ("bad\x00na\nme\r.csv", "badname.csv"),
        ("人口 2024.csv", "人口 2024.csv"),
        ("a..b.csv", "a.b.csv"),
        ("a....b.csv", "a.b.csv"),
    ],
)
def test_safe_filename_keeps_only_a_plain_base_name(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_safe_filename_shortens_long_names_keeping_the_extension() -> None:
    name = safe_filename("x" * 500 + ".csv")
    assert len(name) == 200
    assert name.endswith(".csv")


def test_a_traversal_file_name_is_only_a_name(tmp_path: Path) -> None:
    path = write(tmp_path / "upload.bin", "a,b\n1,2\n")
    source, frame = read_all(path, filename="../../etc/passwd.csv")
    assert source.info.format == "csv"
    assert frame.height == 1


# --- XLSX ----------------------------------------------------------------------------------


def test_xlsx_cells_become_text(tmp_path: Path) -> None:
    rows = [
        ["name", "count", "share", "since", "at", "ok", "note"],
        ["Ada", 3, 2.5, dt.date(2024, 1, 5), dt.datetime(2024, 1, 5, 9, 30), True, None],
        ["Bob", 4.0, 0.1, dt.datetime(2024, 2, 1), dt.datetime(2024, 2, 1, 0, 0, 5), False, ""],
    ]
    source, frame = read_all(xlsx_file(tmp_path / "book.xlsx", rows))
    assert (source.info.format, source.info.sheet, source.info.encoding) == ("xlsx", "Data", None)
    assert source.info.columns == rows[0]
    assert frame.rows() == [
        ("Ada", "3", "2.5", "2024-01-05", "2024-01-05T09:30:00", "true", None, 2),
        ("Bob", "4", "0.1", "2024-02-01", "2024-02-01T00:00:05", "false", None, 3),
    ]
    assert frame.schema[ROW] == pl.Int64


def test_xlsx_reads_the_named_sheet_and_names_the_sheets_when_missing(tmp_path: Path) -> None:
    path = xlsx_file(tmp_path / "book.xlsx", [["a"], [1]], more=2)
    source, frame = read_all(path, sheet="Other2")
    assert source.info.columns == ["other", "sheet"]
    assert frame.rows() == [("1", "1", 2)]
    with pytest.raises(InvalidInput, match="no sheet called 'Nope': its sheets are Data, Other1"):
        open_source(path, filename="book.xlsx", sheet="Nope")


def test_xlsx_header_starts_at_the_first_filled_row_and_rows_keep_sheet_numbers(
    tmp_path: Path,
) -> None:
    rows = [[None], [None], ["id", "name"], [1, "a"], [None, None], [2, "b"], [None], [None]]
    source, frame = read_all(xlsx_file(tmp_path / "book.xlsx", rows))
    assert source.info.columns == ["id", "name"]
    assert frame.rows() == [("1", "a", 4), ("2", "b", 6)]
    assert [(p.type, p.row) for p in source.problems] == [("blank-row", 5)]


def test_xlsx_without_a_header_row(tmp_path: Path) -> None:
    source, frame = read_all(xlsx_file(tmp_path / "n.xlsx", [[1, 2.5], [3, 4]]))
    assert source.info.header is False
    assert source.info.columns == ["column_1", "column_2"]
    assert frame.rows() == [("1", "2.5", 1), ("3", "4", 2)]


def test_xlsx_values_right_of_the_header_are_extra_cells(tmp_path: Path) -> None:
    rows = [["a", "b"], [1, 2], [3, 4, "stray"], [5, 6]]
    source, frame = read_all(xlsx_file(tmp_path / "x.xlsx", rows))
    assert frame[ROW].to_list() == [2, 4]
    [problem] = source.problems
    assert (problem.type, problem.row, problem.column) == ("extra-cell", 3, "C")
    assert "column C, right of the last named column (B)" in problem.message


def test_xlsx_duplicate_and_empty_headers_are_refused(tmp_path: Path) -> None:
    path = xlsx_file(tmp_path / "d.xlsx", [["id", "name", "name"], [1, 2, 3]])
    with pytest.raises(InvalidInput, match="Columns 2 and 3 are both called 'name'"):
        open_source(path, filename="d.xlsx")
    path = xlsx_file(tmp_path / "e.xlsx", [["id", None, "x"], [1, 2, 3]])
    with pytest.raises(InvalidInput, match="Column 2 has no name"):
        open_source(path, filename="e.xlsx")


def test_xlsx_formula_cells_without_a_saved_value_are_problems(tmp_path: Path) -> None:
    rows = [["a", "b", "total"], [1, 2, "=A2+B2"], [3, 4, 7]]
    source, frame = read_all(xlsx_file(tmp_path / "f.xlsx", rows))
    assert frame.rows() == [("3", "4", "7", 3)]
    [problem] = source.problems
    assert (problem.type, problem.row, problem.column) == ("formula-cell", 2, "C2")
    assert "formula cells are not accepted" in problem.message
    assert "paste values" in problem.message


def test_xlsx_formula_cells_with_a_saved_value_give_the_value(tmp_path: Path) -> None:
    path = xlsx_file(tmp_path / "f.xlsx", [["a", "b", "total"], [1, 2, "=A2+B2"]])
    set_cached_values(path, {"C2": "3"})
    source, frame = read_all(path)
    assert frame.rows() == [("1", "2", "3", 2)]
    assert source.problems == []


def test_an_xlsx_zip_bomb_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    path = zip_bomb(tmp_path / "bomb.xlsx", unpacked=24 << 20)
    limits = ReaderLimits(xlsx_max_uncompressed=16 << 20)
    with pytest.raises(PayloadTooLarge, match=r"unpacks to 24\.0 MiB; at most 16\.0 MiB"):
        open_source(path, filename="bomb.xlsx", limits=limits)


def test_an_xlsx_that_packs_too_well_is_a_zip_bomb(tmp_path: Path) -> None:
    path = zip_bomb(tmp_path / "bomb.xlsx", unpacked=8 << 20)
    with pytest.raises(PayloadTooLarge, match=r"looks like a zip bomb.*at most 100×"):
        open_source(path, filename="bomb.xlsx")


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = zip_bomb(tmp_path / "photos.xlsx", unpacked=10, workbook=False)
    with pytest.raises(InvalidInput, match="ZIP archive is not an XLSX workbook"):
        open_source(path, filename="photos.xlsx")


def test_a_text_file_named_xlsx_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "data.xlsx", "a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="This file is not an XLSX workbook"):
        open_source(path, filename="data.xlsx")


# --- JSON, NDJSON, GeoJSON -----------------------------------------------------------------


def test_json_array_of_objects(tmp_path: Path) -> None:
    data = [
        {"id": 1, "name": "东城区", "area": 41.84, "whole": 2.0, "ok": True},
        {"id": 2, "name": None, "tags": ["a", "b"], "meta": {"k": 1.5}},
    ]
    path = write(tmp_path / "d.json", json.dumps(data, ensure_ascii=False))
    source, frame = read_all(path)
    assert source.info.columns == ["id", "name", "area", "whole", "ok", "tags", "meta"]
    assert source.info.encoding == "utf-8"
    assert frame.rows() == [
        ("1", "东城区", "41.84", "2", "true", None, None, 1),
        ("2", None, None, None, None, '["a","b"]', '{"k":1.5}', 2),
    ]


def test_json_rows_under_data(tmp_path: Path) -> None:
    path = write(tmp_path / "d.json", '{"total": 1, "data": [{"a": "x"}]}')
    _, frame = read_all(path)
    assert frame.rows() == [("x", 1)]


def test_json_that_is_not_a_list_of_objects_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="Item 2 of the list is a number"):
        open_source(write(tmp_path / "a.json", '[{"a": 1}, 5]'), filename="a.json")
    with pytest.raises(InvalidInput, match="Expected a JSON array of objects"):
        open_source(write(tmp_path / "b.json", '{"a": 1}'), filename="b.json")
    with pytest.raises(InvalidInput, match="the list of objects is empty"):
        open_source(write(tmp_path / "c.json", "[]"), filename="c.json")


def test_broken_json_says_where(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '[\n{"a": 1},\n{"a": 2,}\n]')
    with pytest.raises(InvalidInput, match=r"not valid JSON: .* at line 3, column 9"):
        open_source(path, filename="bad.json")


def test_gbk_json_is_detected(tmp_path: Path) -> None:
    path = write(tmp_path / "g.json", '[{"名称": "东城区"}]', encoding="gbk")
    source, frame = read_all(path)
    assert source.info.encoding == "gbk"
    assert frame.rows() == [("东城区", 1)]


def test_ndjson_streams_with_sparse_keys_and_line_numbers(tmp_path: Path) -> None:
    lines = ['{"a": 1}', "", '{"a": 2, "b": "x"}', "not json", "[1]", '{"b": "y"}']
    source, frame = read_all(write(tmp_path / "d.jsonl", "\n".join(lines) + "\n"), size=1)
    assert source.info.format == "ndjson"
    assert source.info.columns == ["a", "b"]
    assert frame.rows() == [("1", None, 1), ("2", "x", 3), (None, "y", 6)]
    assert [(p.type, p.row) for p in source.problems] == [("invalid-json", 4), ("invalid-json", 5)]
    assert "line 4 is not valid JSON" in source.problems[0].message
    assert "line 5 is an array" in source.problems[1].message


def test_geojson_points_become_lon_lat_and_other_geometries_json(tmp_path: Path) -> None:
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "站点", "pm25": 35},
                "geometry": {"type": "Point", "coordinates": [116.3912, 39.9073]},
            },
            {"type": "Feature", "properties": {"name": "park"}, "geometry": square},
            {"type": "Feature", "properties": None, "geometry": None},
        ],
    }
    path = write(tmp_path / "s.geojson", json.dumps(collection))
    source, frame = read_all(path)
    assert source.info.columns == ["name", "pm25", "geometry"]
    assert frame.rows()[0] == ("站点", "35", "116.3912,39.9073", 1)
    assert json.loads(frame["geometry"][1]) == square
    assert frame.height == 2  # the feature with nothing in it is a trailing blank row


def test_a_feature_collection_in_a_json_file_is_read_as_geojson(tmp_path: Path) -> None:
    collection = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"a": 1}, "geometry": None}],
    }
    source, _ = read_all(write(tmp_path / "s.json", json.dumps(collection)))
    assert source.info.format == "geojson"


def test_big_json_documents_are_refused_pointing_at_ndjson(tmp_path: Path) -> None:
    path = write(tmp_path / "big.json", json.dumps([{"a": "x" * 100}] * 100))
    with pytest.raises(PayloadTooLarge, match="upload NDJSON"):
        open_source(path, filename="big.json", limits=ReaderLimits(json_max_bytes=1000))


# --- Parquet -------------------------------------------------------------------------------


def test_parquet_columns_become_text_in_batches(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "value": pa.array([1.0, 2.5, None], pa.float64()),
            "day": pa.array([dt.date(2024, 1, 5)] * 3, pa.date32()),
            "at": pa.array([dt.datetime(2024, 1, 5, 9, 30)] * 3, pa.timestamp("us")),
            "ok": pa.array([True, False, None]),
            "tags": pa.array([["a"], [], None], pa.list_(pa.string())),
            "name": pa.array(["东城区", "", None]),
        }
    )
    path = tmp_path / "d.parquet"
    pq.write_table(table, path, row_group_size=2)
    source, frame = read_all(path, size=2)
    assert source.info.columns == ["id", "value", "day", "at", "ok", "tags", "name"]
    assert frame.rows() == [
        ("1", "1", "2024-01-05", "2024-01-05T09:30:00", "true", '["a"]', "东城区", 1),
        ("2", "2.5", "2024-01-05", "2024-01-05T09:30:00", "false", "[]", "", 2),
        ("3", None, "2024-01-05", "2024-01-05T09:30:00", None, None, None, 3),
    ]


def test_a_file_named_parquet_that_is_not_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "d.parquet", "a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="This file is not a Parquet file"):
        open_source(path, filename="d.parquet")
