"""Every user-visible string comes from templates/.

``t("import.missing_header", column="企业名称")`` renders the macro ``missing_header``
of ``templates/text/import.j2``. Whole-page or whole-message templates are rendered
with ``render("name.j2", **context)``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def env() -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(TEMPLATES))
    return jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(["html"]),
                              trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


@lru_cache(maxsize=64)
def _module(group: str):
    return env().get_template(f"text/{group}.j2").module


def t(key: str, /, **params) -> str:
    """Render one short message: ``group.name`` -> macro ``name`` of text/group.j2."""
    group, _, name = key.partition(".")
    macro = getattr(_module(group), name, None)
    if macro is None:
        raise KeyError(f"no message template {key!r}")
    return str(macro(**params)).strip()


def render(name: str, **context) -> str:
    return env().get_template(name).render(**context)


MESSAGE_GROUPS = ("domain", "results", "calendar", "plan", "push", "publication", "tasks",
                  "admin")
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
            if getattr(_module(group), name, None) is not None:
                return group, name
    raise KeyError(f"no message template for domain error {code!r}")


def domain_message(err, channel: str = "cli") -> str:
    """Render a ``DomainError`` from the pure core (templates/text/domain.j2, results.j2 …)
    for the command line (default) or, with ``channel="chat"``, for a chat."""
    group, name = domain_macro(err.code, channel)
    return t(f"{group}.{name}", **err.params)
