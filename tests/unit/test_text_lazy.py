"""bot.text compiles one macro at a time: each is the same as in its whole file."""

from __future__ import annotations

import pytest
from jinja2 import nodes

from bot import text
from bot.text import TEMPLATES, env, macro_source, split

GROUPS = sorted(p.stem for p in (TEMPLATES / "text").glob("*.j2"))


def _macros(source: str) -> dict[str, nodes.Macro]:
    return {m.name: m for m in env().parse(source).find_all(nodes.Macro)}


@pytest.mark.parametrize("group", GROUPS)
def test_each_macro_compiled_alone_is_the_one_in_its_file(group):
    whole_source = (TEMPLATES / "text" / f"{group}.j2").read_text(encoding="utf-8")
    whole = _macros(whole_source)
    preamble, found = split(group)
    assert set(found) == set(whole)
    assert "endmacro" not in preamble
    tops = [n for n in env().parse(whole_source).body if isinstance(n, nodes.Assign)]
    for name in whole:
        alone = _macros(macro_source(group, name))
        assert alone[name] == whole[name], name  # the same tree, node by node
        calls = {
            c.node.name
            for c in whole[name].find_all(nodes.Call)
            if isinstance(c.node, nodes.Name) and c.node.name in whole
        }
        assert calls <= set(alone), name  # and every macro it calls is there
        assert [
            n for n in env().parse(macro_source(group, name)).body if isinstance(n, nodes.Assign)
        ] == tops  # with the file's {% set %} values


def test_a_message_renders_as_from_the_whole_file():
    for group in ("cli", "push", "results", "domain"):
        module = env().get_template(f"text/{group}.j2").module
        for name in split(group)[1]:
            macro = getattr(module, name)
            if macro.arguments:
                continue
            assert text.t(f"{group}.{name}") == str(macro()).strip()


def test_unknown_message():
    with pytest.raises(KeyError):
        text.t("cli.no_such_message")


def test_text_messages_are_not_html_escaped():
    assert "<a & 'b'>" in text.t("cli.unexpected", error="<a & 'b'>")
