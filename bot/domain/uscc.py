"""统一社会信用代码 (GB 32100-2015) and 排污许可证编号 (HJ 608-2017) checks."""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28


def check_char(body17: str) -> str:
    """The 18th character for the first 17."""
    total = sum(_VALUE[c] * w for c, w in zip(body17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """None if ``code`` is a valid USCC, else a short reason code:
    ``length``, ``charset`` or ``check``."""
    if len(code) != 18:
        return "length"
    if any(c not in _VALUE for c in code):
        return "charset"
    if check_char(code[:17]) != code[17]:
        return "check"
    return None


def is_valid_uscc(code: str) -> bool:
    return uscc_problem(code) is None


def permit_problem(permit: str, uscc: str) -> str | None:
    """None if fine; ``format`` if not 18+3 digits+1 letter; ``mismatch`` if its first
    18 characters are not the USCC (a warning, not an error)."""
    if (
        len(permit) != 22
        or not permit[18:21].isdigit()
        or not permit[21].isalpha()
        or not permit[21].isascii()
    ):
        return "format"
    if permit[:18] != uscc:
        return "mismatch"
    return None
