"""Marks in rendered text for the page breaker: the formulas it must not split, and where
each image is, so that every page knows the images it shows.

`render_summary` puts them in `RenderedSummary.marked` (its `text` has none):

- a formula (inline or display, in its Unicode form) stands between `UNIT_OPEN` and
  `UNIT_CLOSE`: `bot.rendering.pages` never cuts a page inside it, unless the formula alone
  is longer than a page;
- the link of image `i` (`RenderedSummary.image_urls[i]`) follows an anchor,
  `chr(IMAGE_BASE + i)`: `take_images` reads which images a page holds.

Marks are supplementary private-use characters, which `render_summary` strips from its input
(`bot.rendering.equations.strip_private_use`), in a block apart from the equation markers and
labels of `bot.rendering.equations`. Whoever shows marked text removes them first
(`strip_marks`, or `take_images` and `strip_units`).
"""

from __future__ import annotations

import re
from typing import Final

UNIT_OPEN: Final = "\U0010fffa"
UNIT_CLOSE: Final = "\U0010fffb"
IMAGE_BASE: Final = 0x10F000
MAX_IMAGES: Final = 0xF00  # images after these many in one summary get no anchor
# Every mark, as a regular expression character class.
MARK_CLASS: Final = f"[{UNIT_OPEN}{UNIT_CLOSE}{chr(IMAGE_BASE)}-{chr(IMAGE_BASE + MAX_IMAGES - 1)}]"
_UNIT_MARKS: Final = re.compile(f"[{UNIT_OPEN}{UNIT_CLOSE}]")
_IMAGE_ANCHOR: Final = re.compile(f"[{chr(IMAGE_BASE)}-{chr(IMAGE_BASE + MAX_IMAGES - 1)}]")
_ALL_MARKS: Final = re.compile(MARK_CLASS)


def unit(text: str) -> str:
    """`text` marked as one piece the page breaker keeps whole."""
    return f"{UNIT_OPEN}{text}{UNIT_CLOSE}" if text else text


def image_anchor(index: int) -> str:
    """The anchor of image `index`, or nothing past `MAX_IMAGES`."""
    return chr(IMAGE_BASE + index) if 0 <= index < MAX_IMAGES else ""


def is_mark(char: str) -> bool:
    return _ALL_MARKS.fullmatch(char) is not None


def unit_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every marked unit, its marks included, in text order. A mark without
    its partner (in a page cut out of marked text) marks nothing."""
    spans: list[tuple[int, int]] = []
    position = text.find(UNIT_OPEN)
    while position >= 0:
        close = text.find(UNIT_CLOSE, position + 1)
        if close < 0:
            break
        reopened = text.rfind(UNIT_OPEN, position, close)
        spans.append((reopened, close + 1))
        position = text.find(UNIT_OPEN, close + 1)
    return spans


def strip_units(text: str) -> str:
    return _UNIT_MARKS.sub("", text)


def take_images(text: str) -> tuple[str, list[int]]:
    """The text without image anchors, and the indexes of the images anchored in it, in
    order and without repeats."""
    indexes: list[int] = []
    for match in _IMAGE_ANCHOR.finditer(text):
        index = ord(match.group(0)) - IMAGE_BASE
        if index not in indexes:
            indexes.append(index)
    return _IMAGE_ANCHOR.sub("", text), indexes


def strip_marks(text: str) -> str:
    """The text as it is shown: no unit marks, no image anchors."""
    return _ALL_MARKS.sub("", text)
