"""Hostile input at the HTTP edge: every check a request body or query passes before
anything parses it further or stores it.

- size first: a body is read up to a limit (``Content-Length`` checked before reading,
  the bytes counted while reading), never more;
- nesting next: JSON deeper than a limit is refused by a linear scan of the bytes, without
  recursion, before ``json.loads`` sees it (which recurses and would overflow the stack);
- then the fields: ids are ASCII digits within the column's range (a 32-bit ``INTEGER``
  on PostgreSQL), short identifiers keep to a small alphabet and length, and no text
  holds NUL (PostgreSQL refuses it) or a lone surrogate (no UTF-8 encoding exists).

Every refusal is a :class:`Refused` naming a Chinese message of templates/text/webchat.j2
and a 4xx status.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

MAX_JSON_BYTES = 32 * 1024
MAX_DEPTH = 16
INT32_MAX = 2**31 - 1  # the largest id an INTEGER column holds (PostgreSQL: int4)
MAX_ACCOUNT = 100  # inspectors.msg_account is VARCHAR(100)
MAX_KEY = 200  # button keys are short (keys.py); a click must name one
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
_CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_QUOTE, _BACKSLASH = 0x22, 0x5C
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")


class Refused(Exception):
    """Bad input: ``key`` names a message of templates/text/webchat.j2."""

    def __init__(self, key: str, status: int = 400, **params: object) -> None:
        super().__init__(key)
        self.key, self.status, self.params = key, status, params


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, refused (413) beyond ``limit`` bytes, before or while reading it."""
    if request.content_length is not None and request.content_length > limit:
        raise Refused("too_large", 413, limit=limit)
    try:
        data = await request.content.read(limit + 1)
    except (web.RequestPayloadError, HttpProcessingError, ValueError, EOFError) as exc:
        raise Refused("bad_body") from exc  # e.g. a broken gzip body, a broken chunk
    if len(data) > limit:
        raise Refused("too_large", 413, limit=limit)
    return data


def nesting_ok(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether no array or object in ``raw`` nests deeper than ``limit``: one pass over
    the bytes, brackets inside strings ignored. Malformed JSON may pass; the parser that
    follows refuses it."""
    depth, in_string, escaped = 0, False, False
    for b in raw:
        if in_string:
            if escaped:
                escaped = False
            elif b == _BACKSLASH:
                escaped = True
            elif b == _QUOTE:
                in_string = False
        elif b == _QUOTE:
            in_string = True
        elif b in _OPEN:
            depth += 1
            if depth > limit:
                return False
        elif b in _CLOSE:
            depth -= 1
    return True


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """UTF-8 JSON (a BOM allowed), nesting and numbers bounded; Refused otherwise."""
    if not nesting_ok(raw, max_depth):
        raise Refused("too_deep", depth=max_depth)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("bad_json") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        # integers of more than 4300 digits and NaN/Infinity are ValueErrors
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise Refused("bad_json") from None


async def json_object(request: web.Request, limit: int = MAX_JSON_BYTES) -> dict:
    """A request's JSON object body, after every check above."""
    doc = parse_json(await read_body(request, limit))
    if not isinstance(doc, dict):
        raise Refused("bad_json")
    return doc


def clean(text: str) -> bool:
    """No NUL, no lone surrogate: text every database and encoder takes."""
    return _BAD_CHARS.search(text) is None


def all_clean(doc: object) -> bool:
    """Every string (keys too) of a parsed JSON document is clean; iterative."""
    stack: list[object] = [doc]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if not clean(v):
                return False
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True


def text_field(value: object, name: str) -> str | None:
    """A string field: None when absent or not a string; Refused when it holds NUL or a
    lone surrogate."""
    if not isinstance(value, str):
        return None
    if not clean(value):
        raise Refused("bad_chars", field=name)
    return value


def account(value: object, name: str = "user") -> str | None:
    """A 消息账号: a clean string of at most MAX_ACCOUNT characters, else None."""
    v = text_field(value, name)
    return v if v and len(v) <= MAX_ACCOUNT else None


def row_id(value: object) -> int | None:
    """An id in 0…2³¹−1, given as a JSON integer or a string of ASCII digits; else None
    ("²" is a digit to ``str.isdigit`` but no number to ``int``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= INT32_MAX else None
    if isinstance(value, str) and 0 < len(value) <= 10 and value.isascii() and value.isdigit():
        n = int(value)
        return n if n <= INT32_MAX else None
    return None


def client_id(value: object) -> str | None:
    """The page's idempotency id (a UUID): letters, digits and ``_.:-``, at most 64."""
    if value is None:
        return None
    if isinstance(value, str) and _CLIENT_ID.fullmatch(value):
        return value
    raise Refused("bad_client_id")


def button_key(value: object) -> str | None:
    """A button's key: a clean string of at most MAX_KEY characters, else None."""
    v = text_field(value, "key")
    return v if v and len(v) <= MAX_KEY else None
