"""Long texts cut into the pieces a messenger accepts in one message."""

from __future__ import annotations

from collections.abc import Callable


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _utf8_head(text: str, limit: int) -> str:
    """The longest prefix of ≤ limit UTF-8 bytes, never inside a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _split(
    text: str, limit: int, size: Callable[[str], int], head: Callable[[str, int], str]
) -> list[str]:
    """Chunks of ``size`` ≤ limit, cut at line ends where possible; joined: ``text``."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if size(current + line) <= limit:
            current += line
            continue
        if current:
            chunks.append(current)
            current = ""
        while size(line) > limit:  # a single over-long line
            cut = head(line, limit) or line[0]  # a limit below one character's size
            chunks.append(cut)
            line = line[len(cut) :]
        current = line
    if current:
        chunks.append(current)
    return chunks


def split_utf8(text: str, limit: int) -> list[str]:
    """Chunks of ≤ limit UTF-8 bytes (WeCom, Feishu)."""
    return _split(text, limit, _utf8_len, _utf8_head)


def split_chars(text: str, limit: int) -> list[str]:
    """Chunks of ≤ limit characters (DingTalk)."""
    return _split(text, limit, len, lambda line, n: line[:n])
