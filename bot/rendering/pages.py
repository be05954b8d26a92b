"""Split long rendered text into pages and plan Discord embeds within Discord's limits.

Two layers:
- `split_pages(text, limit)` is pure: every page is at most `limit` characters and
  `"".join(pages) == text` exactly. It prefers paragraph and line breaks, then sentence
  breaks, and cuts between words only when a page has none of those. It never cuts inside a
  ``` code block (a table is one), nor inside a formula marked as a unit
  (`bot.rendering.units`): one that fits a page moves to the next page whole. Only a block
  or formula longer than a page is cut: a code block between its lines, a formula at a line
  or word break inside it.
- `display_pages(text, limit)` is for showing: when a page must end inside a code block it
  closes the fence at the end of that page and reopens it (same marker and language) at the
  start of the next, and trims blank lines at page edges. It splits with room reserved for
  those fences, so decorated pages still fit `limit`.

Lengths are Python `len` (code points), which is how Discord's API counts.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.rendering.text import shorten
from bot.rendering.units import unit_spans

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELD_COUNT_LIMIT = 25
EMBED_TOTAL_LIMIT = 6000
# Below this much room for the description we refuse rather than make dozens of tiny pages.
MINIMUM_DESCRIPTION_ROOM = 500
# How much body a summary's page shows by default (`SUMMARY_PAGE_CHARS`): a screenful.
DEFAULT_PAGE_CHARS = 1800
# Fence info strings longer than this are not repeated when a code block is reopened.
_REOPENED_INFO_LIMIT = 32


# --------------------------------------------------------------------------------------------
# Code fences
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodeFence:
    """A fenced code block in the text, by character offsets."""

    start: int  # first character of the opening fence line
    body_start: int  # first character after the opening fence line
    body_end: int  # first character of the closing fence line (len(text) if unclosed)
    end: int  # first character after the closing fence line
    marker: str  # the opening run, e.g. "```"
    info: str  # the info string (language), stripped


_OPENING_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_CLOSING_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")


def find_code_fences(text: str) -> list[CodeFence]:
    """CommonMark-style fenced code blocks (``` or ~~~ at a line start)."""
    fences: list[CodeFence] = []
    offset = 0
    opening: tuple[int, int, str, str] | None = None  # start, body_start, marker, info
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n")
        line_end = offset + len(line)
        if opening is None:
            match = _OPENING_FENCE.match(content)
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                opening = (offset, line_end, match.group(1), match.group(2).strip())
        else:
            match = _CLOSING_FENCE.match(content)
            marker = opening[2]
            if match and match.group(1)[0] == marker[0] and len(match.group(1)) >= len(marker):
                fences.append(CodeFence(opening[0], opening[1], offset, line_end, *opening[2:]))
                opening = None
        offset = line_end
    if opening is not None:
        fences.append(CodeFence(opening[0], opening[1], len(text), len(text), *opening[2:]))
    return fences


class _FenceIndex:
    """Fences sorted by start, for quick "is this cut inside code?" questions."""

    def __init__(self, fences: Sequence[CodeFence]) -> None:
        self.fences = list(fences)
        self.starts = [fence.start for fence in self.fences]

    def around(self, position: int) -> CodeFence | None:
        """The fence that a cut at `position` would fall strictly inside, if any."""
        index = bisect.bisect_left(self.starts, position) - 1
        if index >= 0 and position < self.fences[index].end:
            return self.fences[index]
        return None


class _UnitIndex:
    """Marked formulas (`bot.rendering.units`) sorted by start: "is this cut inside one?"."""

    def __init__(self, text: str) -> None:
        self.spans = unit_spans(text)
        self.starts = [start for start, _ in self.spans]

    def around(self, position: int) -> tuple[int, int] | None:
        """The unit that a cut at `position` would fall strictly inside, if any."""
        index = bisect.bisect_right(self.starts, position - 1) - 1
        if index >= 0 and position < self.spans[index][1]:
            return self.spans[index]
        return None


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)*")
_LINE_BREAK = re.compile(r"\n")
_SENTENCE_BREAK = re.compile(r"[.!?…][)\]\"'”’]*[ \t]+")
_WORD_BREAK = re.compile(r"[ \t]+")
_HEADING_LINE = re.compile(r"^(?:#{1,3} .*|\*\*[^*\n]+\*\*)$")
_JOINERS = frozenset("\u200b\u200c\u200d\ufe0e\ufe0f")


def _cuts(
    pattern: re.Pattern[str],
    text: str,
    low: int,
    high: int,
    fences: _FenceIndex,
    *,
    outside_code: bool,
    units: _UnitIndex | None = None,
) -> list[int]:
    """Cuts (ends of `pattern` matches) in [low, high], ascending; optionally outside code,
    and outside the units of `units`."""
    if low > high:
        return []
    cuts: list[int] = []
    for match in pattern.finditer(text, max(0, low - 200), high):
        cut = match.end()
        if cut < low or cut > high:
            continue
        if outside_code and fences.around(cut) is not None:
            continue
        if units is not None and units.around(cut) is not None:
            continue
        cuts.append(cut)
    return cuts


def _last_cut(
    pattern: re.Pattern[str],
    text: str,
    low: int,
    high: int,
    fences: _FenceIndex,
    *,
    outside_code: bool,
    units: _UnitIndex | None = None,
) -> int | None:
    """The largest cut (end of a `pattern` match) in [low, high], optionally outside code
    and units."""
    cuts = _cuts(pattern, text, low, high, fences, outside_code=outside_code, units=units)
    return cuts[-1] if cuts else None


def _ends_with_heading(text: str, start: int, cut: int) -> bool:
    """Whether the page text[start:cut] ends with a heading, which belongs on the next page."""
    last_paragraph = text[start:cut].rstrip().rsplit("\n\n", 1)[-1].strip()
    return "\n" not in last_paragraph and bool(_HEADING_LINE.match(last_paragraph))


def _hard_cut(text: str, start: int, high: int) -> int:
    """Cut at `high`, stepping back so a combining mark or joiner stays with its base."""
    cut = high
    while cut - 1 > start and (
        unicodedata.combining(text[cut]) or text[cut] in _JOINERS or text[cut - 1] in _JOINERS
    ):
        cut -= 1
    return cut


def _choose_cut(text: str, start: int, limit: int, fences: _FenceIndex, units: _UnitIndex) -> int:
    high = start + limit
    low = start + max(1, limit // 2)
    quarter = start + max(1, limit // 4)
    fence = fences.around(high)
    formula = units.around(high)
    cut: int | None
    # 1. A paragraph or line break in the second half of the page, outside code and
    # formulas; not right after a heading if an earlier break will do.
    for pattern in (_PARAGRAPH_BREAK, _LINE_BREAK):
        cuts = _cuts(pattern, text, low, high, fences, outside_code=True, units=units)
        for cut in reversed(cuts):
            if not _ends_with_heading(text, start, cut):
                return cut
        if cuts:
            return cuts[-1]
    if fence is not None:
        # 2. The page would end inside a code block that fits on one page: start it afresh.
        if fence.start > start and fence.end - fence.start <= limit:
            return fence.start
        # 3. A code block longer than a page: fill the page, cutting between code lines
        # (never right after the opening fence line or right before the closing one).
        inner_low, inner_high = max(low, fence.body_start + 1), min(high, fence.body_end - 1)
        cut = _last_cut(_LINE_BREAK, text, inner_low, inner_high, fences, outside_code=False)
        if cut is not None:
            return cut
    else:
        # 3. A sentence break in the second half; then any paragraph, line or sentence break
        # past the first quarter, before falling back to a break between words.
        for pattern, earliest in (
            (_SENTENCE_BREAK, low),
            (_PARAGRAPH_BREAK, quarter),
            (_LINE_BREAK, quarter),
            (_SENTENCE_BREAK, quarter),
            (_WORD_BREAK, low),
        ):
            cut = _last_cut(pattern, text, earliest, high, fences, outside_code=True, units=units)
            if cut is not None:
                return cut
    # 4. Any earlier break outside code and formulas.
    for pattern in (_PARAGRAPH_BREAK, _LINE_BREAK, _SENTENCE_BREAK, _WORD_BREAK):
        cut = _last_cut(pattern, text, start + 1, high, fences, outside_code=True, units=units)
        if cut is not None:
            return cut
    # 5. A formula that fits on one page, glued to the words before it: start it afresh.
    if formula is not None and formula[0] > start and formula[1] - formula[0] <= limit:
        return formula[0]
    # 6. Inside code, or inside a formula longer than a page: any line or word break in it.
    inside: tuple[int, int] | None = None
    if fence is not None:
        inside = (max(start + 1, fence.body_start + 1), min(high, fence.body_end - 1))
    elif formula is not None:
        inside = (max(start + 1, formula[0] + 1), min(high, formula[1] - 1))
    if inside is not None:
        for pattern in (_LINE_BREAK, _WORD_BREAK):
            cut = _last_cut(pattern, text, *inside, fences, outside_code=False)
            if cut is not None:
                return cut
    return _hard_cut(text, start, high)


def split_pages(
    text: str, limit: int = DESCRIPTION_LIMIT, *, breaks: Sequence[int] = ()
) -> list[str]:
    """Split `text` into pages of at most `limit` characters; `"".join(pages) == text`.

    Separators stay at the end of the page before the cut. A page also ends at every offset
    in `breaks` (a new page must start there). Returns [] for empty text.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    fences = _FenceIndex(find_code_fences(text))
    units = _UnitIndex(text)
    forced = sorted({cut for cut in breaks if 0 < cut < len(text)})
    pages: list[str] = []
    start = 0
    while True:
        following = bisect.bisect_right(forced, start)
        next_break = forced[following] if following < len(forced) else None
        if next_break is not None and next_break - start <= limit:
            cut = next_break
        elif len(text) - start > limit:
            cut = _choose_cut(text, start, limit, fences, units)
        else:
            break
        pages.append(text[start:cut])
        start = cut
    if start < len(text):
        pages.append(text[start:])
    return pages


def _page_fence_reserve(fences: Sequence[CodeFence], limit: int) -> int:
    """Characters to keep free per page for closing and reopening a split code block."""
    needed = 0
    for fence in fences:
        info = fence.info if len(fence.info) <= _REOPENED_INFO_LIMIT else ""
        # "\n" + marker at the end of one page; marker + info + "\n" at the next.
        needed = max(needed, 2 * len(fence.marker) + len(info) + 2)
    return min(needed, limit // 4)


def display_pages(
    text: str, limit: int = DESCRIPTION_LIMIT, *, breaks: Sequence[int] = ()
) -> list[str]:
    """Pages for display, each at most `limit` characters, code fences closed per page.

    Blank lines at page edges are trimmed and whitespace-only pages dropped, so the pages
    are not an exact partition of `text` (use `split_pages` for that). `breaks` are offsets
    where a new page must start (see `split_pages`).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    fences = find_code_fences(text)
    index = _FenceIndex(fences)
    reserve = _page_fence_reserve(fences, limit)
    raw_pages = split_pages(text, max(1, limit - reserve), breaks=breaks)
    shown: list[str] = []
    offset = 0
    for raw in raw_pages:
        page_start, page_end = offset, offset + len(raw)
        offset = page_end
        decorated = raw
        opened = index.around(page_start)
        if opened is not None and opened.body_start < page_start < opened.body_end:
            decorated = _fence_opening(opened) + decorated
        closing = index.around(page_end)
        if closing is not None and closing.body_start < page_end < closing.body_end:
            decorated = decorated + ("" if decorated.endswith("\n") else "\n") + closing.marker
        if len(decorated) > limit:
            decorated = raw  # only with absurdly long fence markers; raw always fits
        decorated = decorated.lstrip("\n").rstrip()
        if decorated:
            shown.append(decorated)
    return shown


def _fence_opening(fence: CodeFence) -> str:
    info = fence.info if len(fence.info) <= _REOPENED_INFO_LIMIT else ""
    return f"{fence.marker}{info}\n"


# --------------------------------------------------------------------------------------------
# Embed planning
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmbedField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class EmbedPage:
    """The exact strings for one embed; all within Discord's per-part and total limits."""

    title: str
    description: str
    footer: str
    author: str | None
    fields: tuple[EmbedField, ...]
    page: int  # 1-based
    pages: int

    @property
    def total_length(self) -> int:
        """What Discord counts against the 6000-character embed limit."""
        field_length = sum(len(field.name) + len(field.value) for field in self.fields)
        return (
            len(self.title)
            + len(self.description)
            + len(self.footer)
            + len(self.author or "")
            + field_length
        )


def format_footer(template: str, page: int, pages: int) -> str:
    """Fill `{page}` and `{pages}` (plain replacement: other braces in the template are
    left alone, so user text in it cannot break formatting)."""
    filled = template.replace("{pages}", str(pages)).replace("{page}", str(page))
    return shorten(filled, FOOTER_LIMIT)


def paginate_for_embed(
    text: str,
    *,
    title: str,
    footer_template: str = "page {page} of {pages}",
    author: str | None = None,
    fields: Sequence[EmbedField] = (),
    breaks: Sequence[int] = (),
    page_chars: int = DESCRIPTION_LIMIT,
) -> list[EmbedPage]:
    """Plan embeds for `text`: one `EmbedPage` per page, at least one.

    The title and author are shortened with `…` if too long; the body is never cut, only
    paginated (with `display_pages`, at most `page_chars` characters a page; a page starts
    at each offset in `breaks`). `fields` appear on every page (names and values are
    shortened to Discord's limits). Raises ValueError if there are more than 25 fields or the
    fixed parts leave less than `MINIMUM_DESCRIPTION_ROOM` characters for the body.
    """
    if len(fields) > FIELD_COUNT_LIMIT:
        raise ValueError(f"an embed has at most {FIELD_COUNT_LIMIT} fields")
    shown_title = shorten(" ".join(title.split()), TITLE_LIMIT)
    shown_author = shorten(" ".join(author.split()), AUTHOR_LIMIT) if author else None
    shown_fields = tuple(
        EmbedField(
            shorten(field.name, FIELD_NAME_LIMIT) or "\u200b",
            shorten(field.value, FIELD_VALUE_LIMIT) or "\u200b",
            field.inline,
        )
        for field in fields
    )
    fixed_length = (
        len(shown_title)
        + len(shown_author or "")
        + sum(len(field.name) + len(field.value) for field in shown_fields)
    )
    assumed_pages = 9
    while True:
        # The footer is longest on the last page; assume a page count with as many digits.
        footer_room = len(format_footer(footer_template, assumed_pages, assumed_pages))
        room = min(page_chars, DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - fixed_length - footer_room)
        if room < MINIMUM_DESCRIPTION_ROOM:
            raise ValueError("title, author, footer and fields leave too little room for text")
        descriptions = display_pages(text, room, breaks=breaks) or [""]
        if len(descriptions) <= assumed_pages:
            break
        assumed_pages = assumed_pages * 10 + 9
    count = len(descriptions)
    return [
        EmbedPage(
            title=shown_title,
            description=description,
            footer=format_footer(footer_template, number, count),
            author=shown_author,
            fields=shown_fields,
            page=number,
            pages=count,
        )
        for number, description in enumerate(descriptions, start=1)
    ]
