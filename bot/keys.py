"""Typed button payloads: ``prefix:id``, short, never free text (WeCom allows 128 bytes)."""

from __future__ import annotations

from bot.domain.model import DomainError

ACCEPT, RECUSE, RESULT = "acc", "rec", "res"  # on an assignment card (id = 编号)
DRAW_OK, DRAW_NO = "dro", "drn"  # draw confirmation (id = draw id)
RECUSAL_OK, RECUSAL_NO = "rvo", "rvn"  # recusal decision (id = recusal id)
REVIEW_OK, REVIEW_BACK = "rso", "rsb"  # result review (id = 编号; older cards)
RESULT_OK, RESULT_BACK = "rro", "rrb"  # result review (id = result id: a joint
# task's object has one per department)
ENTRY_OK, ENTRY_NO = "eok", "eno"  # confirm / abandon a result entry
ENTRY_EDIT, EDIT_FIELD = "edt", "edf"  # change an answer (edf:编号:field)
WITHDRAW = "wdr"  # take back a result awaiting review
DETAIL, PAGE = "det", "lst"  # task details; list page (lst:page:all)
REVIEW_LIST_ONE, REVIEW_LIST_ALL = "rv1", "rva"  # 审核: one by one / approve all
REVIEW_ALL_OK, REVIEW_ALL_NO = "rvy", "rvx"  # confirm approve-all (rvy:count:max id)
REVIEW_NEXT = "rnx"  # skip to the next result (id = result id)


ID_MAX = 2**31 - 1  # ids are INTEGER columns (PostgreSQL: 32 bits)


def _ident(text: str) -> int:
    """ASCII digits within an id's range; anything else is a stale button."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > ID_MAX:
        raise DomainError("stale_button")
    return int(text)


def chat_ref(word: str) -> int | None:
    """An 编号 typed in chat (回避, 对调, 结果, 任务): ASCII digits within an id's range.
    Digits of any other kind ("²", "１２") or a number beyond the range is no 编号 there
    is (DomainError ``no_assignment``); None when the word is no number at all (the
    command's usage applies)."""
    word = word.strip()
    if not word or not word.isdigit():
        return None
    if word.isascii() and len(word) <= 10 and int(word) <= ID_MAX:
        return int(word)
    raise DomainError("no_assignment", ref=word if len(word) <= 20 else word[:20] + "…")


def make(prefix: str, ident: int) -> str:
    return f"{prefix}:{int(ident)}"


def parse(key: str) -> tuple[str, int]:
    prefix, _, ident = (key or "").partition(":")
    return prefix, _ident(ident)


def make_parts(prefix: str, *parts) -> str:
    """``prefix:a:b``: parts are ints or short ASCII words."""
    return ":".join([prefix, *(str(p) for p in parts)])


def parse_parts(key: str, count: int) -> list[str]:
    """The ``count`` parts after the prefix; a malformed key is a stale button."""
    parts = (key or "").split(":")[1:]
    if len(parts) != count or not all(p and p.isascii() for p in parts):
        raise DomainError("stale_button")
    return parts


def parse_int(text: str) -> int:
    return _ident(text)
