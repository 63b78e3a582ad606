"""Typed button payloads: ``prefix:id``, short, never free text (WeCom allows 128 bytes)."""
from __future__ import annotations

from bot.domain.model import DomainError

ACCEPT, RECUSE, RESULT = "acc", "rec", "res"          # on an assignment card (id = 编号)
DRAW_OK, DRAW_NO = "dro", "drn"                       # draw confirmation (id = draw id)
RECUSAL_OK, RECUSAL_NO = "rvo", "rvn"                 # recusal decision (id = recusal id)
REVIEW_OK, REVIEW_BACK = "rso", "rsb"                 # result review (id = 编号; older cards)
RESULT_OK, RESULT_BACK = "rro", "rrb"                 # result review (id = result id: a joint
                                                      # task's object has one per department)
ENTRY_OK, ENTRY_NO = "eok", "eno"                     # confirm / abandon a result entry


def make(prefix: str, ident: int) -> str:
    return f"{prefix}:{int(ident)}"


def parse(key: str) -> tuple[str, int]:
    prefix, _, ident = (key or "").partition(":")
    if not ident.isdigit():
        raise DomainError("stale_button")
    return prefix, int(ident)
