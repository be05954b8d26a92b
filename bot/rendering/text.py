"""Small text helpers for user-provided content shown in Discord."""

from __future__ import annotations

import re

from bot.rendering.units import MARK_CLASS

ZERO_WIDTH_SPACE = "\u200b"
ELLIPSIS = "…"

# C0/C1 control characters except tab and newline, plus bidirectional overrides and isolates,
# which can visually reorder the rest of a message.
_CONTROL_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]",
)
# `@everyone`, `@here`, and `<@123>`, `<@!123>`, `<@&123>`, `<#123>` mention syntax; the
# page breaker's marks (`bot.rendering.units`) are seen through, since they are removed
# before the text is shown.
_MASS_MENTION = re.compile(f"@(?={MARK_CLASS}*(?:everyone|here))", re.IGNORECASE)
_ENTITY_MENTION = re.compile(f"<({MARK_CLASS}*[@#])(?!\u200b)")
# Characters that Discord Markdown gives a meaning to inside a line; `[` and `]` because
# `[text](url)` is a masked link, which shows words and goes somewhere else.
_MARKDOWN_SPECIALS = re.compile(r"([\\*_~`|\[\]])")
# Characters that mean something at the start of a line (headings, quotes, lists).
_LINE_START_SPECIALS = re.compile(f"(?m)^(\\s*{MARK_CLASS}*)([#>]|[-+](?=\\s)|\\d+\\.(?=\\s))")


def clean_user_text(text: str) -> str:
    """Normalise newlines and drop control characters (tab and newline are kept)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_CHARACTERS.sub("", text)


def neutralize_mentions(text: str) -> str:
    """Make `@everyone`, `@here`, `<@id>`, `<@&id>`, `<#id>` inert with a zero-width space.

    The bot also sends `allowed_mentions=none`; this is the second line of defence.
    """
    text = _MASS_MENTION.sub("@" + ZERO_WIDTH_SPACE, text)
    return _ENTITY_MENTION.sub(lambda match: "<" + match.group(1) + ZERO_WIDTH_SPACE, text)


def escape_markdown(text: str, *, line_start: bool = True) -> str:
    """Escape characters Discord would read as formatting or as a masked link, for text that
    must show as-is (feed titles, reason phrases, names).

    `line_start=False` for text placed mid-line, where `#`, `>` and list markers are inert.
    """
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    if not line_start:
        return escaped
    return _LINE_START_SPECIALS.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker = match.group(1), match.group(2)
    if marker[0].isdigit():
        return indent + marker[:-1] + "\\."  # `1.` -> `1\.`: only punctuation escapes
    return indent + "\\" + marker


def shorten(text: str, limit: int, *, placeholder: str = ELLIPSIS) -> str:
    """`text` cut to at most `limit` characters, ending in `placeholder` when cut.

    Cuts at a word boundary when one is reasonably close, for titles and names (never for
    body text, which is paginated instead).
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if limit <= len(placeholder):
        return placeholder[:limit]
    room = limit - len(placeholder)
    cut = text[:room]
    space = cut.rfind(" ")
    if space >= room * 2 // 3:
        cut = cut[:space]
    return cut.rstrip() + placeholder


_SIBILANT_END = re.compile(r"(?:s|x|z|ch|sh)$")
_CONSONANT_Y_END = re.compile(r"[^aeiou]y$")


def plural_noun(count: float, singular: str, plural_form: str | None = None) -> str:
    """`singular` when `count` is 1 or -1, else its plural: `plural_form` when given, else the
    last word made plural by the regular English rules (`current entry` → `current entries`,
    `match` → `matches`, `poll` → `polls`)."""
    if abs(count) == 1:
        return singular
    if plural_form is not None:
        return plural_form
    if _CONSONANT_Y_END.search(singular):
        return singular[:-1] + "ies"
    if _SIBILANT_END.search(singular):
        return singular + "es"
    return singular + "s"


def plural(
    count: float, singular: str, plural_form: str | None = None, *, shown: str | None = None
) -> str:
    """A count and its noun, the one way counts are written: `1 entry`, `3 entries`,
    `1 poll in a row` (`plural(1, "poll") + " in a row"`), `+1 vote` (`shown="+1"`: how the
    number is written when not plainly)."""
    if shown is None:
        shown = f"{count:g}" if isinstance(count, float) else str(count)
    return f"{shown} {plural_noun(count, singular, plural_form)}"
