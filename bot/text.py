"""Every user-visible string comes from templates/.

``t("import.missing_header", column="企业名称")`` renders the macro ``missing_header``
of ``templates/text/import.j2``. Whole-page or whole-message templates are rendered
with ``render("name.j2", **context)``.

A message group is one file of many macros, and compiling a whole file costs far more
than the message: ``t`` compiles only the macro asked for (with the macros it calls and
the file's top-level ``{% set %}`` values), once per process. That keeps a command such as
``ssj --help`` quick. tests/unit/test_text_lazy.py checks each macro compiled alone is the
same as in its file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# One macro definition, from its opening tag to its end tag (macros do not nest here).
_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(.*?\{%-?\s*endmacro\s*-?%\}", re.S)
_WORD = re.compile(r"\w+")


class _Error(Protocol):
    code: str
    params: dict[str, Any]


@lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(TEMPLATES))
    return jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


@lru_cache(maxsize=1)
def _text_env() -> jinja2.Environment:
    """``env()`` as it treats text/*.j2 (no autoescape: that is for .html), for sources
    that have no file name."""
    return env().overlay(autoescape=False)


@cache
def split(group: str) -> tuple[str, dict[str, str]]:
    """The file of a message group as (what is outside its macros, {name: definition})."""
    path = TEMPLATES / "text" / f"{group}.j2"
    if not path.is_file():
        raise jinja2.TemplateNotFound(f"text/{group}.j2")
    source = path.read_text(encoding="utf-8")
    macros = {m.group(1): m.group(0) for m in _MACRO.finditer(source)}
    return _MACRO.sub("", source), macros


def macro_source(group: str, name: str) -> str:
    """A template holding macro ``name`` of the group, the macros it calls (directly or
    not) and the file's top-level statements."""
    preamble, macros = split(group)
    wanted, todo = {name}, [name]
    while todo:
        for word in _WORD.findall(macros[todo.pop()]):
            if word in macros and word not in wanted:
                wanted.add(word)
                todo.append(word)
    return preamble + "".join(src for n, src in macros.items() if n in wanted)


@lru_cache(maxsize=1024)
def _macro(group: str, name: str) -> Callable[..., Any] | None:
    if name not in split(group)[1]:
        return None
    template = _text_env().from_string(macro_source(group, name))
    macro: Callable[..., Any] = getattr(template.module, name)
    return macro


def t(key: str, /, **params: Any) -> str:
    """Render one short message: ``group.name`` -> macro ``name`` of text/group.j2."""
    group, _, name = key.partition(".")
    macro = _macro(group, name)
    if macro is None:
        raise KeyError(f"no message template {key!r}")
    return str(macro(**params)).strip()


def render(name: str, **context: Any) -> str:
    return env().get_template(name).render(**context)


MESSAGE_GROUPS = ("domain", "results", "calendar", "plan", "push", "publication", "tasks", "admin")
CHANNELS = ("cli", "chat")


def domain_macro(code: str, channel: str = "cli") -> tuple[str, str]:
    """(group, macro) that renders ``code`` for ``channel``.

    Chat has no command line: for ``channel="chat"`` a macro ``<code>_chat`` (in any
    message group; they live in templates/text/admin.j2) is preferred to the shared one,
    whose wording may name ``ssj`` commands and their options.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    names = ([f"{code}_chat"] if channel == "chat" else []) + [code]
    for name in names:
        for group in MESSAGE_GROUPS:
            if name in split(group)[1]:
                return group, name
    raise KeyError(f"no message template for domain error {code!r}")


def domain_message(err: _Error, channel: str = "cli") -> str:
    """Render a ``DomainError`` from the pure core (templates/text/domain.j2, results.j2 …)
    for the command line (default) or, with ``channel="chat"``, for a chat."""
    group, name = domain_macro(err.code, channel)
    return t(f"{group}.{name}", **err.params)
