"""One-line excerpts of summaries with the matched words in bold, safe to post on Discord.

The excerpt is user text: it must not format (headings, links, spoilers, code), mention
(`@everyone`, `<@id>`) or break the bold markers around it. FTS5's snippet() marks matches
with private-use markers; everything between them is escaped, then the markers become `**`.
"""

from __future__ import annotations

import re
from typing import Final

MATCH_START: Final = "\ue0a0\ue0a1"
MATCH_END: Final = "\ue0a1\ue0a0"
ELLIPSIS: Final = "…"
MAX_EXCERPT_CHARS: Final = 200

_MARKERS = re.compile(f"({re.escape(MATCH_START)}|{re.escape(MATCH_END)})")
# What Discord's Markdown reads as syntax anywhere in a line ("<" starts mentions, custom
# emoji and timestamps; "[...](...)" masked links) ...
_MARKDOWN_SPECIAL = re.compile(r"([\\*_~`|<\[\]()])")
# ... and only at the start of one (headings, subtext, lists, quotes).
_LINE_START_SYNTAX = re.compile(r"^([#>+-])")
_ORDERED_LIST_START = re.compile(r"^(\d+)\.")
_MENTION = re.compile(r"@(?=\S)")
_WHITESPACE = re.compile(r"\s+")


def markdown_excerpt(fragment: str, max_chars: int = MAX_EXCERPT_CHARS) -> str:
    """Discord Markdown: one line, escaped, matches in **bold**, at most ~max_chars shown."""
    pieces = _pieces(fragment, max_chars)
    parts = [f"**{_escape(text)}**" if bold else _escape(text) for text, bold in pieces]
    if parts and not pieces[0][1]:
        parts[0] = _LINE_START_SYNTAX.sub(r"\\\1", parts[0], count=1)
        parts[0] = _ORDERED_LIST_START.sub(r"\1\\.", parts[0], count=1)
    return "".join(parts)


def plain_excerpt(fragment: str, max_chars: int = MAX_EXCERPT_CHARS) -> str:
    """The same excerpt as plain text (for JSON and terminals)."""
    return "".join(text for text, _ in _pieces(fragment, max_chars))


def has_match(fragment: str) -> bool:
    return MATCH_START in fragment


def _pieces(fragment: str, max_chars: int) -> list[tuple[str, bool]]:
    """(text, bold) runs of the fragment on one line, cut to max_chars visible characters."""
    runs: list[tuple[str, bool]] = []
    bold = False
    for part in _MARKERS.split(fragment):
        if part == MATCH_START:
            bold = True
        elif part == MATCH_END:
            bold = False
        elif part:
            text = _WHITESPACE.sub(" ", part)
            core = text.strip(" ")
            if not bold or not core:
                runs.append((text, False))
                continue
            # Bold must hug the words: "** word**" is not bold on Discord.
            lead = text[: len(text) - len(text.lstrip(" "))]
            trail = text[len(text.rstrip(" ")) :]
            runs.extend(((lead, False), (core, True), (trail, False)))
    pieces: list[tuple[str, bool]] = []
    room = max_chars
    previous_space = True  # no space at the start
    for text, is_bold in runs:
        if previous_space:
            text = text.lstrip(" ")
        if not text:
            continue
        if len(text) >= room:
            text = text[:room].rstrip(" ") + ELLIPSIS
            pieces.append((text, is_bold))
            return pieces
        room -= len(text)
        pieces.append((text, is_bold))
        previous_space = text.endswith(" ")
    if pieces and pieces[-1][0].endswith(" "):
        text, is_bold = pieces.pop()
        if text.rstrip(" "):
            pieces.append((text.rstrip(" "), is_bold))
    return pieces


def _escape(text: str) -> str:
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    # A zero-width space after "@" defuses @everyone, @here and role/user mentions.
    return _MENTION.sub("@\u200b", escaped)
