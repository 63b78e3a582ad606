"""Long texts cut for a messenger: nothing lost, every piece within the limit, cuts at
line ends when a line fits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.messengers.chunks import split_chars, split_utf8

lines = st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40), max_size=30)


@given(lines, st.integers(min_value=1, max_value=64))
def test_utf8_pieces_fit_and_join_back(parts, limit):
    text = "\n".join(parts)
    pieces = split_utf8(text, limit)
    assert "".join(pieces) == text
    # a piece is over the limit only when it is one character bigger than the limit
    assert all(0 < len(p.encode("utf-8")) <= limit or len(p) == 1 for p in pieces)


@given(lines, st.integers(min_value=1, max_value=64))
def test_character_pieces_fit_and_join_back(parts, limit):
    text = "\n".join(parts)
    pieces = split_chars(text, limit)
    assert "".join(pieces) == text
    assert all(0 < len(p) <= limit for p in pieces)


def test_lines_that_fit_are_not_cut():
    text = "第一行\n第二行\n第三行\n"
    assert split_chars(text, 8) == ["第一行\n第二行\n", "第三行\n"]
    assert split_utf8(text, 20) == ["第一行\n第二行\n", "第三行\n"]  # 10 bytes a line
    assert split_utf8("😀😀", 6) == ["😀", "😀"]  # never inside a character
