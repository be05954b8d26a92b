"""One-line excerpts of summaries with the matched words in bold, safe to post on Discord.

`fragment` picks the best window of the TL;DR or the body and marks the query's matches
with private-use markers. Matching is by the index's tokens: case and diacritics do not
matter ("naive" bolds "Naïve"). Math is found and converted to Unicode as `/summary view`
finds and converts it (`bot.rendering.latex`: `$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`),
and a formula is shown whole or not at all: a match inside one is not bolded, a window edge
never falls inside one, and the length cut drops a formula that does not fit instead of
cutting it.

The excerpt is user text: it must not format (headings, links, spoilers, code), mention
(`@everyone`, `<@id>`) or break the bold markers around it, so everything between the
markers is escaped before the markers become `**`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Final

from bot.rendering.latex import iter_math_segments, latex_to_unicode
from bot.search.query import ParsedQuery
from bot.search.schema import fold

MATCH_START: Final = "\ue0a0\ue0a1"
MATCH_END: Final = "\ue0a1\ue0a0"
# Around converted math: shown whole or not at all.
MATH_START: Final = "\ue0a2\ue0a3"
MATH_END: Final = "\ue0a3\ue0a2"
LONGEST_MATH_KEPT: Final = 160  # a window edge inside a longer formula leaves it out
ELLIPSIS: Final = "…"
MAX_EXCERPT_CHARS: Final = 200
WINDOW_CHARS: Final = 180
LEAD_CHARS: Final = 30  # context shown before the first match
MAX_MATCHES: Final = 32

_MARKERS = re.compile(
    f"({re.escape(MATCH_START)}|{re.escape(MATCH_END)}|{re.escape(MATH_START)}|{re.escape(MATH_END)})"
)
# What Discord's Markdown reads as syntax anywhere in a line ("<" starts mentions, custom
# emoji and timestamps; "[...](...)" masked links) ...
_ESCAPES: Final = {ord(char): "\\" + char for char in "\\*_~`|<[]()"}
# A zero-width space after "@" defuses @everyone, @here and role/user mentions.
_ESCAPES[ord("@")] = "@\u200b"
# ... and only at the start of one (headings, subtext, lists, quotes).
_LINE_START_SYNTAX = re.compile(r"^([#>+-])")
_ORDERED_LIST_START = re.compile(r"^(\d+)\.")
_WHITESPACE = re.compile(r"\s+")
# Markdown the excerpt drops rather than shows escaped: images, link targets, emphasis,
# code ticks, heading and quote markers.
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*{1,3}|_{2,3}|`+|~~|\|\|")
_LINE_MARKERS = re.compile(r"(?m)^[ \t]*(?:#{1,6}|>+|-#)[ \t]+")
# HTML in summaries (`<b>`, `<br>`, `<img>`, comments): dropped, its text kept. Only tags
# HTML has, so `List<T>` in prose stays.
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_INLINE_TAG = re.compile(
    r"</?(?:a|b|strong|i|em|u|s|del|ins|strike|code|tt|kbd|sup|sub|span|font|small|big|mark)"
    r"\b[^<>]*>",
    re.IGNORECASE,
)
_BLOCK_TAG = re.compile(
    r"</?(?:p|div|br|hr|img|center|ul|ol|li|blockquote|pre|table|thead|tbody|tr|td|th"
    r"|figure|figcaption|h[1-6])\b[^<>]*>",
    re.IGNORECASE,
)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# The index's token characters are letters and digits; "_" separates, like punctuation.
_TOKEN_EDGE_BEFORE = r"(?<![^\W_])"
_TOKEN_EDGE_AFTER = r"(?![^\W_])"
_SEPARATORS = r"[\W_]+"


class MatchFinder:
    """Finds the query's phrases in text: whole tokens, ignoring case and diacritics, as the
    index matches them.

    `str.find` on the folded text locates each phrase's first token (a regex scan costs 25
    times more); an anchored regex checks the token edges and the rest."""

    def __init__(self, query: ParsedQuery) -> None:
        self.phrases: list[tuple[str, re.Pattern[str]]] = []
        for phrase in query.phrases:
            parts = phrase.tokens
            if not parts:
                continue
            body = _SEPARATORS.join(re.escape(part) for part in parts)
            anchored = re.compile(f"{_TOKEN_EDGE_BEFORE}{body}{_TOKEN_EDGE_AFTER}", re.IGNORECASE)
            self.phrases.append((parts[0], anchored))

    def find(self, text: str, limit: int = 32) -> list[tuple[int, int, str]]:
        """(start, end, phrase key) of up to `limit` matches per phrase, in text order."""
        lowered = fold(text)
        if len(lowered) != len(text):  # folding moved offsets: use the regexes alone
            return self._find_by_regex(text, limit)
        found: list[tuple[int, int, str]] = []
        for key, (first, anchored) in enumerate(self.phrases):
            position = lowered.find(first)
            count = 0
            while position >= 0 and count < limit:
                match = anchored.match(lowered, position)
                if match is not None:
                    found.append((match.start(), match.end(), str(key)))
                    count += 1
                position = lowered.find(first, position + 1)
        found.sort()
        return found

    def _find_by_regex(self, text: str, limit: int) -> list[tuple[int, int, str]]:
        found: list[tuple[int, int, str]] = []
        for key, (_, anchored) in enumerate(self.phrases):
            searching = re.compile(anchored.pattern, re.IGNORECASE)
            for count, match in enumerate(searching.finditer(text)):
                if count >= limit:
                    break
                found.append((match.start(), match.end(), str(key)))
        found.sort()
        return found


def fragment(texts: Sequence[str], finder: MatchFinder | None) -> str:
    """The best window of the first text with a match (else of the first non-empty text),
    with matches between MATCH_START and MATCH_END, math converted between MATH_START and
    MATH_END, Markdown syntax dropped."""
    candidates = [text for text in texts if text and text.strip()]
    if not candidates:
        return ""
    for text in candidates:
        matches = finder.find(text, MAX_MATCHES) if finder is not None else []
        if matches:
            spans = _math_spans(text)
            matches = _without_overlaps([m for m in matches if not _inside_math(m, spans)])
            if matches:
                return _window(text, matches, spans)
    return _window(candidates[0], [], _math_spans(candidates[0]))


def _math_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every formula in `text`, found as `/summary view` finds
    them (`iter_math_segments`: `$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`, environments)."""
    if "$" not in text and "\\" not in text:
        return []
    spans = []
    position = 0
    for segment in iter_math_segments(text):
        end = position + len(segment.source)
        if segment.kind != "text":
            spans.append((position, end, segment.content))
        position = end
    return spans


def _inside_math(match: tuple[int, int, str], spans: list[tuple[int, int, str]]) -> bool:
    return any(start < match[1] and match[0] < end for start, end, _ in spans)


def _without_overlaps(matches: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    kept: list[tuple[int, int, str]] = []
    for match in matches:
        if kept and match[0] < kept[-1][1]:
            continue
        kept.append(match)
    return kept


def clean_markdown(text: str) -> str:
    """Markdown and HTML syntax dropped (their text kept), entities decoded."""
    text = _HTML_COMMENT.sub("", text)
    text = _INLINE_TAG.sub("", text)
    text = _BLOCK_TAG.sub(" ", text)
    text = _IMAGE.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _LINE_MARKERS.sub("", text)
    text = _EMPHASIS.sub("", text)
    return _ENTITY.sub(lambda match: html.unescape(match.group(0)), text)


def _window(
    text: str, matches: list[tuple[int, int, str]], spans: list[tuple[int, int, str]]
) -> str:
    start = _best_start(matches) if matches else 0
    if start > 0:
        space = text.rfind(" ", max(0, start - 20), start + 1)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + WINDOW_CHARS)
    if end < len(text):
        space = text.rfind(" ", start + WINDOW_CHARS // 2, end)
        end = space if space > 0 else end
    # A window edge never cuts a formula: take it whole when short, else leave it out.
    for first, last, _ in spans:
        if first < start < last:
            start = first if last - first <= LONGEST_MATH_KEPT else last
        if first < end < last:
            end = last if last - first <= LONGEST_MATH_KEPT else first
    end = max(end, start)
    formulas: list[str] = []
    pieces = [ELLIPSIS] if start > 0 else []
    cursor = start
    events = sorted(
        [(first, last, "match") for first, last, _ in matches if first >= start and last <= end]
        + [(first, last, "math") for first, last, _ in spans if first >= start and last <= end]
    )
    contents = {first: content for first, _, content in spans}
    for first, last, kind in events:
        if first < cursor:
            continue
        pieces.append(text[cursor:first])
        if kind == "match":
            pieces.extend((MATCH_START, text[first:last], MATCH_END))
        else:
            # A placeholder, so that cleaning Markdown never touches the converted formula.
            pieces.append(MATH_START + chr(_FORMULA_BASE + len(formulas)) + MATH_END)
            formulas.append(latex_to_unicode(contents[first]))
        cursor = last
    pieces.append(text[cursor:end])
    if end < len(text):
        pieces.append(ELLIPSIS)
    # Markers are private-use characters: cleaning never touches them.
    cleaned = clean_markdown("".join(pieces))
    for number, formula in enumerate(formulas):
        cleaned = cleaned.replace(chr(_FORMULA_BASE + number), " ".join(formula.split()), 1)
    return cleaned


_FORMULA_BASE: Final = 0xF0000  # supplementary private use: never in a marker


def _best_start(matches: list[tuple[int, int, str]]) -> int:
    """Where the window with the most distinct matched phrases (then matches) starts."""
    counts: dict[str, int] = {}
    best_score = (-1, -1)
    best_left = 0
    left = 0
    for right, (_, last, key) in enumerate(matches):
        counts[key] = counts.get(key, 0) + 1
        while last - max(0, matches[left][0] - LEAD_CHARS) > WINDOW_CHARS:
            dropped = matches[left][2]
            counts[dropped] -= 1
            if not counts[dropped]:
                del counts[dropped]
            left += 1
        score = (len(counts), right - left + 1)
        if score > best_score:
            best_score, best_left = score, left
    return max(0, matches[best_left][0] - LEAD_CHARS)


def render_excerpt(fragment: str, max_chars: int = MAX_EXCERPT_CHARS) -> tuple[str, str]:
    """(Discord Markdown, plain text) of a fragment: one line, at most ~max_chars shown;
    in Markdown the matches are **bold** and everything else is escaped."""
    pieces = _pieces(fragment, max_chars)
    parts = [f"**{_escape(text)}**" if bold else _escape(text) for text, bold in pieces]
    if parts and not pieces[0][1]:
        parts[0] = _LINE_START_SYNTAX.sub(r"\\\1", parts[0], count=1)
        parts[0] = _ORDERED_LIST_START.sub(r"\1\\.", parts[0], count=1)
    return "".join(parts), "".join(text for text, _ in pieces)


def markdown_excerpt(fragment: str, max_chars: int = MAX_EXCERPT_CHARS) -> str:
    return render_excerpt(fragment, max_chars)[0]


def plain_excerpt(fragment: str, max_chars: int = MAX_EXCERPT_CHARS) -> str:
    return render_excerpt(fragment, max_chars)[1]


def _pieces(fragment: str, max_chars: int) -> list[tuple[str, bool]]:
    """(text, bold) runs of the fragment on one line, cut to max_chars visible characters;
    a formula is kept whole or dropped."""
    runs: list[tuple[str, bool, bool]] = []  # text, bold, atomic
    bold = atomic = False
    for part in _MARKERS.split(fragment):
        if part == MATCH_START:
            bold = True
        elif part == MATCH_END:
            bold = False
        elif part == MATH_START:
            atomic = True
        elif part == MATH_END:
            atomic = False
        elif part:
            text = _WHITESPACE.sub(" ", part)
            core = text.strip(" ")
            if not (bold or atomic) or not core:
                runs.append((text, False, False))
                continue
            # Bold must hug the words: "** word**" is not bold on Discord.
            lead = text[: len(text) - len(text.lstrip(" "))]
            trail = text[len(text.rstrip(" ")) :]
            runs.extend(((lead, False, False), (core, bold, atomic), (trail, False, False)))
    pieces: list[tuple[str, bool]] = []
    room = max_chars
    previous_space = True  # no space at the start
    for text, is_bold, is_atomic in runs:
        if previous_space:
            text = text.lstrip(" ")
        if not text:
            continue
        if len(text) >= room:
            if is_atomic:
                if pieces:
                    last, last_bold = pieces.pop()
                    pieces.append((last.rstrip(" "), last_bold))
                pieces.append((ELLIPSIS, False))
                return [piece for piece in pieces if piece[0]]
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
    return text.translate(_ESCAPES)
