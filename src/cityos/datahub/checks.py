"""Check characters of Chinese identifiers, as vectorised polars expressions.

* 统一社会信用代码 (unified social credit code, GB 32100-2015): 18 characters from
  ``0-9 A-H J-N P-R T U W-Y``; the 18th is a check character, modulus 31.
* 公民身份号码 (citizen identity number, GB 11643-1999): 17 digits (the 7th–14th a birth
  date ``YYYYMMDD``) and a check character ``0-9`` or ``X`` (ISO 7064 MOD 11-2).

The expressions are null-safe (null in, null out) and never run Python per row. The plain
helpers :func:`uscc_check_char` and :func:`id_card_check_char` make valid codes for tests
and demo data.
"""

from __future__ import annotations

import polars as pl

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_CARD_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CARD_CHECK = "10X98765432"

_USCC_VALUES = {char: value for value, char in enumerate(USCC_CHARSET)}
_USCC_SHAPE = f"^[{USCC_CHARSET}]{{18}}$"
_ID_CARD_SHAPE = r"^\d{17}[\dX]$"
_ID_CHECK_VALUES = {char: value for value, char in enumerate(ID_CARD_CHECK)}


def uscc_check_char(first17: str) -> str:
    """The check character for the first 17 characters of a unified social credit code."""
    if len(first17) != 17 or any(char not in _USCC_VALUES for char in first17):
        raise ValueError(f"need 17 characters from {USCC_CHARSET} (got {first17!r})")
    total = sum(
        _USCC_VALUES[char] * weight for char, weight in zip(first17, USCC_WEIGHTS, strict=True)
    )
    return USCC_CHARSET[(31 - total % 31) % 31]


def id_card_check_char(first17: str) -> str:
    """The check character for the first 17 digits of a citizen identity number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"need 17 digits (got {first17!r})")
    total = sum(int(char) * weight for char, weight in zip(first17, ID_CARD_WEIGHTS, strict=True))
    return ID_CARD_CHECK[total % 11]


def _null_safe(expr: pl.Expr, valid: pl.Expr) -> pl.Expr:
    return pl.when(expr.is_null()).then(None).otherwise(valid.fill_null(False))


def uscc_valid(expr: pl.Expr) -> pl.Expr:
    """True where the text is a unified social credit code with the right check character."""
    total = pl.sum_horizontal(
        expr.str.slice(position, 1).replace_strict(
            _USCC_VALUES, default=None, return_dtype=pl.Int32
        )
        * weight
        for position, weight in enumerate(USCC_WEIGHTS)
    )
    check = expr.str.slice(17, 1).replace_strict(_USCC_VALUES, default=None, return_dtype=pl.Int32)
    valid = expr.str.contains(_USCC_SHAPE) & (check == (31 - total % 31) % 31)
    return _null_safe(expr, valid)


def id_card_valid(expr: pl.Expr) -> pl.Expr:
    """True where the text is an 18-character citizen identity number: shape, birth date and
    check character (a capital ``X`` for ten)."""
    total = pl.sum_horizontal(
        expr.str.slice(position, 1).cast(pl.Int32, strict=False) * weight
        for position, weight in enumerate(ID_CARD_WEIGHTS)
    )
    check = expr.str.slice(17, 1).replace_strict(
        _ID_CHECK_VALUES, default=None, return_dtype=pl.Int32
    )
    born = expr.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    valid = expr.str.contains(_ID_CARD_SHAPE) & born.is_not_null() & (check == total % 11)
    return _null_safe(expr, valid)
