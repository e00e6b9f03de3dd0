"""Check characters of unified social credit codes and citizen identity numbers."""

from __future__ import annotations

import random
from collections.abc import Callable

import polars as pl
import pytest

from cityos.datahub.checks import (
    USCC_CHARSET,
    id_card_check_char,
    id_card_valid,
    uscc_check_char,
    uscc_valid,
)

# Published examples: GB 32100-2015's sample code, and GB 11643-1999's sample number.
USCC_EXAMPLE = "91350100M000100Y43"
ID_CARD_EXAMPLE = "11010519491231002X"


def verdicts(values: list[str | None], check: Callable[[pl.Expr], pl.Expr]) -> list[bool | None]:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    result: list[bool | None] = frame.select(check(pl.col("v"))).to_series().to_list()
    return result


def test_the_published_examples_are_valid() -> None:
    assert verdicts([USCC_EXAMPLE], uscc_valid) == [True]
    assert verdicts([ID_CARD_EXAMPLE], id_card_valid) == [True]
    assert uscc_check_char(USCC_EXAMPLE[:17]) == USCC_EXAMPLE[17]
    assert id_card_check_char(ID_CARD_EXAMPLE[:17]) == "X"


def test_a_wrong_check_character_is_invalid() -> None:
    assert verdicts([USCC_EXAMPLE[:17] + "4"], uscc_valid) == [False]
    assert verdicts([ID_CARD_EXAMPLE[:17] + "1"], id_card_valid) == [False]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y433",  # 19 characters
        "91350100m000100Y43",  # lower case
        "9135010OM000100Y43",  # the letter O is not in the charset
        "91350100M000100Y4 ",
    ],
)
def test_malformed_credit_codes_are_invalid(value: str) -> None:
    assert verdicts([value], uscc_valid) == [False]


def test_an_identity_number_with_an_impossible_birth_date_is_invalid() -> None:
    first17 = "11010519490230002"  # born 30 February 1949
    value = first17 + id_card_check_char(first17)  # the check character itself is right
    assert verdicts([value], id_card_valid) == [False]


@pytest.mark.parametrize(
    "value",
    [
        "11010519491231002x",  # lower-case x
        "1101051949123100",
        "11010519491231002XX",
        "A1010519491231002X",
        "110105194912310",
    ],
)
def test_malformed_identity_numbers_are_invalid(value: str) -> None:
    assert verdicts([value], id_card_valid) == [False]


def test_null_in_gives_null_out() -> None:
    assert verdicts([None, USCC_EXAMPLE], uscc_valid) == [None, True]
    assert verdicts([None, ID_CARD_EXAMPLE], id_card_valid) == [None, True]


def test_codes_made_with_the_helpers_are_valid_and_any_other_check_char_is_not() -> None:
    rng = random.Random(4)
    codes: list[str] = []
    for _ in range(500):
        first17 = "".join(rng.choice(USCC_CHARSET) for _ in range(17))
        codes.append(first17 + uscc_check_char(first17))
    assert verdicts([*codes], uscc_valid) == [True] * 500
    wrong = [code[:17] + next(c for c in USCC_CHARSET if c != code[17]) for code in codes]
    assert verdicts([*wrong], uscc_valid) == [False] * 500

    numbers: list[str] = []
    for _ in range(500):
        born = f"{rng.randint(1900, 2020)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        first17 = f"{rng.randint(110000, 659999)}{born}{rng.randint(0, 999):03d}"
        numbers.append(first17 + id_card_check_char(first17))
    assert verdicts([*numbers], id_card_valid) == [True] * 500
    wrong = [n[:17] + next(c for c in "0123456789X" if c != n[17]) for n in numbers]
    assert verdicts([*wrong], id_card_valid) == [False] * 500


def test_a_large_column_is_checked_in_one_expression() -> None:
    values = [USCC_EXAMPLE, "bad", None] * 100_000
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    result = frame.select(uscc_valid(pl.col("v")).alias("ok")).get_column("ok")
    assert result.dtype == pl.Boolean
    assert (result.sum(), result.null_count()) == (100_000, 100_000)


@pytest.mark.parametrize(
    ("helper", "value"),
    [
        (uscc_check_char, "91350100M000100Y"),  # 16 characters
        (uscc_check_char, "91350100M000100YI"),  # I is not in the charset
        (id_card_check_char, "1101051949123100A"),
        (id_card_check_char, "110105194912310"),
    ],
)
def test_the_helpers_refuse_malformed_input(helper: Callable[[str], str], value: str) -> None:
    with pytest.raises(ValueError, match="need 17"):
        helper(value)
