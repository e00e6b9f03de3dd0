"""Reading delimited text: encodings, delimiters, headers, ragged rows and damaged files."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import polars as pl
import pytest

from cityos.datahub.readers import ROW, ReaderLimits, StructuralProblem, open_source
from cityos.datahub.sniff import unclosed_quote_row
from cityos.errors import InvalidInput, PayloadTooLarge
from tests.datahub.readers_support import read_all, write, xlsx_file

CHINESE = "区县代码,名称,人口\n110101,东城区,708829\n110102,西城区,1106214\n"


# --- the shape of a batch ------------------------------------------------------------------


def test_csv_batches_are_string_columns_named_by_the_header_with_the_file_row_number(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "people.csv", "name,age,city\nAda,36,\nBob,,Paris\n")
    source, frame = read_all(path)
    assert source.info.format == "csv"
    assert source.info.header is True
    assert source.info.delimiter == ","
    assert source.info.columns == ["name", "age", "city"]
    assert frame.schema == pl.Schema(
        {"name": pl.String, "age": pl.String, "city": pl.String, ROW: pl.Int64}
    )
    assert frame.rows() == [("Ada", "36", "", 2), ("Bob", "", "Paris", 3)]
    assert source.problems == []


def test_empty_cells_are_empty_strings_even_when_quoted(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'a,b\n"",x\n,"y"\n')
    _, frame = read_all(path)
    assert frame.rows() == [("", "x", 2), ("", "y", 3)]


def test_quoted_cells_keep_delimiters_quotes_and_line_breaks(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'a,b\n"x, y","say ""hi"""\n"two\nlines",z\nlast,row\n')
    _, frame = read_all(path)
    assert frame.rows() == [("x, y", 'say "hi"', 2), ("two\nlines", "z", 3), ("last", "row", 4)]


def test_batches_can_be_read_again(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "a,b\n1,2\n3\n4,5\n")
    with open_source(path, filename="r.csv") as source:
        first = pl.concat(source.batches())
        second = pl.concat(source.batches())
        assert first.equals(second)
        assert len(source.problems) == 1  # not reported twice


# --- delimiters and headers ----------------------------------------------------------------


def test_tsv_files_are_read_with_tabs(tmp_path: Path) -> None:
    path = write(tmp_path / "data.tsv", "a\tb\n1,5\t2\n")
    source, frame = read_all(path)
    assert (source.info.format, source.info.delimiter) == ("tsv", "\t")
    assert frame.rows() == [("1,5", "2", 2)]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("name;price\nTea;3,50\nCake;4,20\n", ";"),
        ("name\tprice\nTea\t3.50\n", "\t"),
        ("name|price|note\nTea|3.50|a, b\n", "|"),
        ('name,note\nTea,"a; b; c"\nCake,plain\n', ","),
    ],
)
def test_the_delimiter_of_a_csv_is_sniffed(tmp_path: Path, text: str, delimiter: str) -> None:
    source, frame = read_all(write(tmp_path / "x.csv", text))
    assert source.info.delimiter == delimiter
    assert frame.columns[:2] == ["name", source.info.columns[1]]
    assert frame.height >= 1


def test_an_explicit_delimiter_wins_over_sniffing(tmp_path: Path) -> None:
    path = write(tmp_path / "x.txt", "a;b,c\n1;2,3\n")
    source, frame = read_all(path, delimiter="semicolon")
    assert (source.info.format, source.info.delimiter) == ("csv", ";")
    assert frame.rows() == [("1", "2,3", 2)]


def test_a_delimiter_must_be_one_character(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "a,b\n1,2\n")
    with pytest.raises(InvalidInput, match="must be one ASCII character"):
        open_source(path, filename="x.csv", delimiter=";;")


def test_a_first_row_of_values_is_data_not_a_header(tmp_path: Path) -> None:
    path = write(tmp_path / "n.csv", "1,2024-01-05,3.5\n2,2024-01-06,-4\n")
    source, frame = read_all(path)
    assert source.info.header is False
    assert source.info.columns == ["column_1", "column_2", "column_3"]
    assert frame.rows() == [("1", "2024-01-05", "3.5", 1), ("2", "2024-01-06", "-4", 2)]


def test_year_headers_over_numbers_are_a_header(tmp_path: Path) -> None:
    path = write(tmp_path / "y.csv", "2021,2022,2023\n15,17,19\n")
    source, _ = read_all(path)
    assert source.info.header is True
    assert source.info.columns == ["2021", "2022", "2023"]


@pytest.mark.parametrize(
    "text",
    [
        "name,2021,2022\nTea,5,6\nCake,7,8\n",  # a name and years over numbers
        "code,note\nA1,x y z\nB2,other\n",  # a name over codes of one length
        "when,n\n2024-01-05,3\n2024-01-06,4\n",  # names over a date and numbers
    ],
)
def test_a_first_row_of_names_over_values_of_another_kind_is_a_header(
    tmp_path: Path, text: str
) -> None:
    source, _ = read_all(write(tmp_path / "h.csv", text))
    assert source.info.header is True


def test_a_first_row_like_the_rows_below_is_data_even_with_text_cells(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "1,Ada,2024-01-05\n2,Bob,2024-01-06\n3,Eve,2024-01-07\n")
    source, frame = read_all(path)
    assert source.info.header is False
    assert frame.height == 3


def test_the_expected_columns_tell_a_text_first_row_of_data_from_a_header(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "t.csv", "Ada,Paris\nBob,Rome\n")
    assert read_all(path)[0].info.header is True  # names expected when nothing tells
    source, frame = read_all(path, expected_columns=["name", "city"])
    assert source.info.header is False
    assert frame.height == 2
    # a cell naming a field makes a header; so does a row of another width
    named = write(tmp_path / "n.csv", "City,Name\nParis,Ada\n")
    assert read_all(named, expected_columns=["name", "city"])[0].info.header is True
    assert read_all(path, expected_columns=["name", "city", "age"])[0].info.header is True
    # a forced header wins
    assert read_all(path, expected_columns=["name", "city"], header=True)[0].info.header


def test_the_expected_columns_tell_an_xlsx_first_row_of_data_from_a_header(
    tmp_path: Path,
) -> None:
    path = xlsx_file(tmp_path / "t.xlsx", [["Ada", "Paris"], ["Bob", "Rome"]])
    source, frame = read_all(path, expected_columns=["name", "city"])
    assert source.info.header is False
    assert frame.rows() == [("Ada", "Paris", 1), ("Bob", "Rome", 2)]


def test_header_can_be_forced_either_way(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "a,b\n1,2\n")
    source, frame = read_all(path, header=False)
    assert frame.rows() == [("a", "b", 1), ("1", "2", 2)]
    source, frame = read_all(write(tmp_path / "n.csv", "1,2\n3,4\n"), header=True)
    assert source.info.columns == ["1", "2"]
    assert frame.rows() == [("3", "4", 2)]


# --- encodings -----------------------------------------------------------------------------


def test_utf8_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", CHINESE, encoding="utf-8-sig")
    source, frame = read_all(path)
    assert source.info.encoding == "utf-8-sig"
    assert source.info.columns == ["区县代码", "名称", "人口"]
    assert frame["名称"].to_list() == ["东城区", "西城区"]


def test_gbk_is_detected_and_transcoded(tmp_path: Path) -> None:
    path = write(tmp_path / "gbk.csv", CHINESE, encoding="gbk")
    source, frame = read_all(path)
    assert source.info.encoding == "gbk"
    assert source.info.columns == ["区县代码", "名称", "人口"]
    assert frame.rows()[0] == ("110101", "东城区", "708829", 2)


def test_gb18030_only_characters_are_detected(tmp_path: Path) -> None:
    text = "名称,备注\n䶮,€ 欧元\n"  # 䶮 and € are not in GBK
    path = write(tmp_path / "gb.csv", text, encoding="gb18030")
    source, frame = read_all(path)
    assert source.info.encoding == "gb18030"
    assert frame.rows() == [("䶮", "€ 欧元", 2)]


def test_utf16_with_bom_is_transcoded(tmp_path: Path) -> None:
    path = write(tmp_path / "u16.csv", CHINESE, encoding="utf-16")
    source, frame = read_all(path)
    assert source.info.encoding == "utf-16"
    assert frame.height == 2


def test_a_multibyte_character_cut_by_the_sample_is_still_utf8(tmp_path: Path) -> None:
    filler = "a" * (64 * 1024 - 7)  # the sample ends inside the next character
    path = write(tmp_path / "cut.csv", f"text\n{filler}区县\nok\n")
    source, frame = read_all(path)
    assert source.info.encoding == "utf-8"
    assert frame.height == 2


def test_a_forced_encoding_that_does_not_fit_says_where_and_what_to_try(tmp_path: Path) -> None:
    path = write(tmp_path / "gbk.csv", CHINESE, encoding="gbk")
    with pytest.raises(InvalidInput) as caught:
        open_source(path, filename="gbk.csv", encoding="utf-8")
    assert caught.value.message == (
        "The file is not valid UTF-8 at line 1, byte 0: try the encoding gb18030 "
        "(`encoding=gb18030` in the API or the upload form, `--encoding gb18030` on the "
        "command line), or save the file as UTF-8."
    )


def test_a_forced_encoding_is_used(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.csv", "nom,ville\nRené,Besançon\n", encoding="latin-1")
    source, frame = read_all(path, encoding="latin-1")
    assert source.info.encoding == "iso8859-1"
    assert frame.rows() == [("René", "Besançon", 2)]


def test_an_unknown_encoding_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "a\n1\n")
    with pytest.raises(InvalidInput, match="Unknown encoding 'klingon'"):
        open_source(path, filename="x.csv", encoding="klingon")


def test_a_bad_byte_deep_in_a_utf8_file_is_reported_with_its_line(tmp_path: Path) -> None:
    good = "".join(f"{i},名称{i}\n" for i in range(20_000))  # well past the sample
    path = write(tmp_path / "mixed.csv", ("id,name\n" + good).encode() + "1,东城区\n".encode("gbk"))
    with pytest.raises(InvalidInput, match=r"not valid UTF-8 at line 20002.*--encoding gb18030"):
        read_all(path)


def test_a_bad_byte_deep_in_a_gbk_file_is_reported_with_its_line(tmp_path: Path) -> None:
    good = "".join(f"{i},名称{i}\n" for i in range(20_000)).encode("gbk")
    path = write(tmp_path / "bad.csv", "id,name\n".encode("gbk") + good + b"9,\xff\xff\n")
    with pytest.raises(InvalidInput, match=r"not valid GB18030 at line 20002"):
        open_source(path, filename="bad.csv")


def test_closing_a_source_removes_its_transcoded_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path = write(tmp_path / "gbk.csv", CHINESE, encoding="gbk")
    with open_source(path, filename="gbk.csv") as source:
        assert list(scratch.iterdir())
        assert sum(batch.height for batch in source.batches()) == 2
    assert list(scratch.iterdir()) == []


# --- ragged, blank and damaged rows --------------------------------------------------------


def test_ragged_rows_are_reported_and_skipped_keeping_the_file_row_numbers(
    tmp_path: Path,
) -> None:
    text = 'a,b,c\n1,2,3\n4,5\n6,7,8,9\n"multi\nline",x,y\n10,11,12\n'
    source, frame = read_all(write(tmp_path / "r.csv", text), size=1)
    assert frame.rows() == [("1", "2", "3", 2), ("multi\nline", "x", "y", 5), ("10", "11", "12", 6)]
    assert [(p.type, p.row) for p in source.problems] == [("missing-cell", 3), ("extra-cell", 4)]
    assert "row 3 has 2 cells but the header has 3" in source.problems[0].message
    assert "row 4 has 4 cells but the header has 3" in source.problems[1].message


def test_blank_rows_between_data_are_reported_and_trailing_ones_ignored(
    tmp_path: Path,
) -> None:
    source, frame = read_all(write(tmp_path / "b.csv", "a,b\n1,2\n\n,\n3,4\n\n,\n"))
    assert frame.rows() == [("1", "2", 2), ("3", "4", 5)]
    assert [(p.type, p.row) for p in source.problems] == [("blank-row", 3), ("blank-row", 4)]


def test_problems_beyond_the_limit_are_counted_not_kept(tmp_path: Path) -> None:
    text = "a,b\n" + "1\n" * 50 + "1,2\n"
    source, frame = read_all(write(tmp_path / "m.csv", text), limits=ReaderLimits(max_problems=5))
    assert frame.rows() == [("1", "2", 52)]
    assert len(source.problems) == 5
    assert source.problem_counts == {"missing-cell": 50}


def test_an_unbalanced_quote_names_the_row_where_it_starts(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'a,b\n1,2\n3,"oops\n5,6\n7,8\n')
    with pytest.raises(InvalidInput, match="a quoted cell starts at row 3 and never ends"):
        read_all(path)


def test_an_unbalanced_quote_before_a_long_tail_names_its_row(tmp_path: Path) -> None:
    tail = "5,6\n" * 3_000_000  # longer than two read blocks
    path = write(tmp_path / "q.csv", 'a,b\n1,2\n"3,4\n' + tail)
    with pytest.raises(InvalidInput, match="a quoted cell starts at row 3 and never ends"):
        read_all(path)


@pytest.mark.parametrize(
    ("content", "row"),
    [
        (b'a,b\n1,2\n3,"oops\n5,6\n', 3),
        (b'a,b\n"x\n""y",2\n3,"z\n', 3),
        (b'a,b\r\n1,"x\r\n"\r\n2,"', 3),
        (b'a,b\n\n\n1,"', 4),
        (b'a,b\n"ab"cd,"e\n', 2),
        (b'a,b\n"ab""\n', 2),
        (b'a,b\n5\'10",x\n"q",1\n', None),
        (b'a,b\n"ab"""\n', None),
    ],
)
def test_the_quote_scan_finds_the_record_of_an_unclosed_quote(
    tmp_path: Path, content: bytes, row: int | None
) -> None:
    path = write(tmp_path / "q.csv", content)
    for chunk in (1, 2, 3, 1 << 20):  # quotes and line breaks cut at every place
        assert unclosed_quote_row(path, delimiter=",", chunk=chunk) == row


def test_a_closed_multiline_last_cell_is_not_an_unbalanced_quote(tmp_path: Path) -> None:
    _, frame = read_all(write(tmp_path / "q.csv", 'a,b\n1,"two\nlines"\n'))
    assert frame.rows() == [("1", "two\nlines", 2)]


def test_duplicate_headers_name_both_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "id,name,x,y,z,w,name\n1,2,3,4,5,6,7\n")
    with pytest.raises(InvalidInput, match="Columns 2 and 7 are both called 'name'"):
        open_source(path, filename="d.csv")


def test_empty_headers_name_the_column(tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "id,name,,city\n1,2,3,4\n")
    with pytest.raises(InvalidInput, match="Column 3 has no name") as caught:
        open_source(path, filename="e.csv")
    assert "header=false" in caught.value.message


def test_a_cell_over_the_limit_is_refused_with_its_row_and_column(tmp_path: Path) -> None:
    big = "x" * (2 * 1024 * 1024)
    path = write(tmp_path / "big.csv", f"id,body\n1,small\n2,{big}\n")
    with pytest.raises(PayloadTooLarge, match=r"row 3, column 2 \('body'\) holds 2\.0 MiB"):
        read_all(path)


def test_a_row_larger_than_a_read_block_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("id,body\n1,small\n")
        handle.write("2," + "x" * (12 * 1024 * 1024) + "\n")  # more than two read blocks
    with pytest.raises(PayloadTooLarge, match=r"A row after row 2 is larger than 4\.0 MiB"):
        read_all(path)


def test_too_many_columns_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "w.csv", ",".join(f"c{i}" for i in range(20)) + "\n" + "1," * 19 + "1\n"
    )
    with pytest.raises(InvalidInput, match="at most 10 are accepted"):
        open_source(path, filename="w.csv", limits=ReaderLimits(max_columns=10))


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"\xef\xbb\xbf"])
def test_an_empty_file_is_refused(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(InvalidInput, match="The file is empty"):
        open_source(write(tmp_path / "e.csv", content), filename="e.csv")


def test_a_header_without_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="header row but no data rows"):
        open_source(write(tmp_path / "h.csv", "a,b,c\n"), filename="h.csv")


# --- files that are not text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "a PNG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"PK\x03\x04\x14\x00\x00\x00", "a ZIP archive"),
        (b"\x1f\x8b\x08\x00" + bytes(50), "GZIP"),
        (b"\x7fELF\x02\x01\x01" + bytes(50), "ELF"),
    ],
)
def test_a_binary_file_named_csv_is_refused_saying_what_it_looks_like(
    tmp_path: Path, content: bytes, looks_like: str
) -> None:
    with pytest.raises(InvalidInput, match="This file is not CSV text: it looks like") as caught:
        open_source(write(tmp_path / "data.csv", content), filename="data.csv")
    assert looks_like in caught.value.message
    assert "Upload a CSV, TSV, XLSX, JSON, GeoJSON or Parquet file." in caught.value.message


def test_a_web_page_saved_as_csv_is_refused(tmp_path: Path) -> None:
    page = "<!DOCTYPE html>\n<html><body><table><tr><td>1</td></tr></table></body></html>\n"
    with pytest.raises(InvalidInput, match=r"it looks like a web page \(HTML\)"):
        open_source(write(tmp_path / "data.csv", page), filename="data.csv")


def test_random_bytes_are_not_text(tmp_path: Path) -> None:
    noise = random.Random(4).randbytes(100_000)
    with pytest.raises(InvalidInput, match="This file is not CSV text: it looks like binary"):
        open_source(write(tmp_path / "noise.csv", noise), filename="noise.csv")


def test_utf16_without_bom_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "a,b\n1,2\n" * 20, encoding="utf-16-le")
    with pytest.raises(InvalidInput, match="UTF-16 text without a byte-order mark") as caught:
        open_source(path, filename="u.csv")
    assert "`encoding=utf-16-le` in the API or the upload form" in caught.value.message
    assert "`--encoding utf-16-le` on the command line" in caught.value.message
    _, frame = read_all(path, encoding="utf-16-le")
    assert frame.height == 39


# --- real and large files ------------------------------------------------------------------


def test_the_damaged_boston_311_file_reports_its_extra_cell(shared_dir: Path) -> None:
    path = shared_dir / "data/311/boston311-100-bad.tsv"
    source, frame = read_all(path, size=40)
    assert (source.info.format, source.info.delimiter, source.info.header) == ("tsv", "\t", True)
    assert len(source.info.columns) == 29
    assert source.problems == [
        StructuralProblem(
            "extra-cell",
            41,
            "row 41 has 30 cells but the header has 29: remove the extra cells (or quote "
            "cells that contain the delimiter)",
        )
    ]
    assert frame.height == 99  # 100 records, one skipped
    assert 41 not in frame[ROW].to_list()
    assert frame[ROW].to_list() == [n for n in range(2, 102) if n != 41]
    # row 83 quotes a cell with doubled quotes inside: read as the clean file has it
    row_83 = frame.filter(pl.col(ROW) == 83).row(0, named=True)
    assert row_83["case_title"] == 'Missed "Other" Trash: District 07'
    assert row_83["queue"] == "PWDx_Missed Trash\\Recycling\\Yard Waste\\Bulk Item"


def test_a_large_file_streams_in_batches_with_correct_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "large.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,name,value\n")
        for i in range(300_001):
            handle.write(f"{i},name {i},{i % 97}\n" if i != 150_000 else "broken,row\n")
    sizes: list[int] = []
    first_rows: list[int] = []
    total = 0
    with open_source(path, filename="large.csv") as source:
        for batch in source.batches(100_000):
            sizes.append(batch.height)
            first_rows.append(batch[ROW][0])
            ids = batch["id"].cast(pl.Int64)
            # __row is the id + 2, skipping the broken record's number
            assert (batch[ROW] == ids + 2).all()
            total += batch.height
        assert [(p.type, p.row) for p in source.problems] == [("missing-cell", 150_002)]
    assert sizes == [100_000, 100_000, 100_000]
    assert first_rows == [2, 100_002, 200_003]
    assert total == 300_000
