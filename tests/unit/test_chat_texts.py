"""No text a chat can show names a command-line option (``--…``) or an ``ssj`` command:
chat users have no command line.

The check is static and covers every branch of each template, not one sample rendering:

* every ``templates/chat/*.j2`` file, with the macros it imports from ``templates/text``;
* every message key (``"group.name"``) written in the modules that talk to chat:
  ``handlers/``, ``scheduler/``, ``bot/dispatch.py`` and the services whose texts they
  send (``notify``, ``draw_flow``, ``publication``, ``plan``, ``tasks``);
* every DomainError code (raised anywhere in ``bot/``, or a macro of domain.j2) as the
  dispatcher and the scheduler render it for chat (``domain_message(…, channel="chat")``);

each with the macros those macros call in their own file. Not covered: texts that reach a
chat by other paths — ``bot/push_runtime.py`` sends ``push.parked_notice`` to the 管理员
(it names ``ssj outbox retry``), and the web chat page's own texts (``webchat.j2``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from jinja2 import nodes

from bot.text import TEMPLATES, domain_macro, env

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = re.compile(r"--|\bssj\s")
GROUPS = sorted(p.stem for p in (TEMPLATES / "text").glob("*.j2"))
CHAT_MODULES = [
    *sorted((ROOT / "handlers").glob("*.py")),
    *sorted((ROOT / "scheduler").glob("*.py")),
    ROOT / "bot" / "dispatch.py",
    *(
        ROOT / "bot" / "services" / f"{m}.py"
        for m in (
            "notify",
            "draw_flow",
            "publication",
            "plan",
            "tasks",
            "quarter",
            "reminders",
            "digest",
        )
    ),
]  # the jobs' services
KEY = re.compile(r'"(' + "|".join(GROUPS) + r')\.([a-z_0-9]+)"')
CHAT_TEMPLATE = re.compile(r'"(chat/[a-z_0-9]+\.j2)"')
RAISED = re.compile(r'DomainError\(\s*"([a-z_0-9]+)"')


def _ast(name: str) -> nodes.Template:
    return env().parse(env().loader.get_source(env(), name)[0])


@functools.cache
def _macros(name: str) -> dict[str, nodes.Macro]:
    return {m.name: m for m in _ast(name).find_all(nodes.Macro)}


def _texts(node: nodes.Node, name: str, label: str, seen: set) -> list[tuple[str, str]]:
    """(where, literal text) of ``node`` (in template ``name``) and of the macros it calls
    or imports."""
    out = [(label, n.data) for n in node.find_all(nodes.TemplateData)]
    out += [(label, n.value) for n in node.find_all(nodes.Const) if isinstance(n.value, str)]
    own = _macros(name)
    for call in node.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in own:
            out += _macro_texts(name, call.node.name, seen)
    for imp in node.find_all(nodes.FromImport):
        for item in imp.names:
            out += _macro_texts(
                imp.template.value, item if isinstance(item, str) else item[0], seen
            )
    for imp in node.find_all(nodes.Import):
        for attr in node.find_all(nodes.Getattr):
            if isinstance(attr.node, nodes.Name) and attr.node.name == imp.target:
                out += _macro_texts(imp.template.value, attr.attr, seen)
    return out


def _macro_texts(name: str, macro: str, seen: set) -> list[tuple[str, str]]:
    if (name, macro) in seen:
        return []
    seen.add((name, macro))
    found = _macros(name)
    assert macro in found, f"{name} has no macro {macro}"
    return _texts(found[macro], name, f"{name}:{macro}", seen)


def chat_keys() -> set[tuple[str, str]]:
    """Message keys in the chat modules (a "group.name" naming no macro, such as the audit
    action "plan.publish", is no message)."""
    keys = set()
    for path in CHAT_MODULES:
        keys |= set(KEY.findall(path.read_text(encoding="utf-8")))
    return {(g, m) for g, m in keys if m in _macros(f"text/{g}.j2")}


def chat_templates() -> set[str]:
    found = {f"chat/{p.name}" for p in (TEMPLATES / "chat").glob("*.j2")}
    for path in CHAT_MODULES:
        found |= set(CHAT_TEMPLATE.findall(path.read_text(encoding="utf-8")))
    return found


def domain_codes() -> set[str]:
    codes = set(_macros("text/domain.j2"))
    for path in (ROOT / "bot").rglob("*.py"):
        codes |= set(RAISED.findall(path.read_text(encoding="utf-8")))
    return codes


def reachable() -> list[tuple[str, str]]:
    seen: set = set()
    out = []
    for name in sorted(chat_templates()):
        out += _texts(_ast(name), name, name, seen)
    for group, macro in sorted(chat_keys()):
        out += _macro_texts(f"text/{group}.j2", macro, seen)
    for code in sorted(domain_codes()):
        group, macro = domain_macro(code, "chat")
        out += _macro_texts(f"text/{group}.j2", macro, seen)
    return out


def test_the_scan_sees_what_chat_shows():
    keys = chat_keys()
    assert {
        ("chat", "draw_card_title"),
        ("admin", "redraw_void_notice"),
        ("jobs", "calendar_unknown"),
        ("publication", "published"),
    } <= keys
    assert {"chat/digest.j2", "chat/jobs_plan.j2", "chat/help.j2"} <= chat_templates()
    assert {
        "already_drawn",
        "redraw_needs_reason",
        "plan_missing",
        "task_not_created",
        "calendar_unknown_year",
        "team_unstaffable",
        "bad_conclusion",
    } <= domain_codes()
    where = {w for w, _ in reachable()}
    assert {
        "text/plan.j2:joint_line_chat",
        "text/plan.j2:joint_share",
        "text/jobs.j2:fallback_note",
        "text/admin.j2:already_drawn_chat",
        "text/calendar.j2:calendar_bad_quarter",
        "text/admin.j2:when",
    } <= where
    assert "text/plan.j2:joint_line" not in where  # the command line's own wording


def test_the_scan_would_catch_a_command_line_hint():
    assert FORBIDDEN.search("请使用 --redraw --reason") and FORBIDDEN.search("用“ssj plan publish")
    assert not FORBIDDEN.search("发送“重抽 2027Q1 理由”——原结果作废") and not FORBIDDEN.search(
        "SSJ_DIGEST_AT"
    )
    assert any(
        FORBIDDEN.search(text) for _, text in _macro_texts("text/plan.j2", "joint_line", set())
    )


def test_no_chat_text_names_the_command_line():
    bad = sorted(
        {(where, text.strip()[:80]) for where, text in reachable() if FORBIDDEN.search(text)}
    )
    assert bad == []


@pytest.mark.parametrize(
    "code",
    [
        "already_drawn",
        "redraw_needs_reason",
        "redraw_nothing",
        "plan_missing",
        "task_not_created",
        "calendar_unknown_year",
    ],
)
def test_a_shared_message_keeps_its_command_line_wording_for_the_cli(code):
    assert domain_macro(code, "cli")[1] == code
    assert domain_macro(code, "chat")[1] == f"{code}_chat"
