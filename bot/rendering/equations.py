"""Display equations in rendered text: where each one stands, and its number.

`render_summary(..., equations=[])` puts a marker character just before the Unicode form of
each display equation it collects (one character from Unicode's supplementary private use
area A: `chr(MARKER_BASE + i)` marks the i-th). Once it is known which equations were
typeset, `number_markers` replaces each marker by its label, `(1)` and a space, or by nothing
for an equation shown in Unicode only. While pages are planned the labels stay *shifted* into
private use area B, character by character: the same length as the label (so page limits
are exact), impossible to confuse with the reader's text (private use characters are removed
from the source first), and never split by the page breaker (it only cuts at spaces and line
breaks). `take_labels` then reads which equations a page holds and puts the real characters
back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

MARKER_BASE: Final = 0xF0000
MAX_MARKERS: Final = 0xFFFD
_LABEL_SHIFT: Final = 0x100000
_PRIVATE_USE_SUPPLEMENT: Final = re.compile("[\U000f0000-\U0010ffff]")
_MARKER: Final = re.compile("[\U000f0000-\U000ffffd]")
# A shifted label is made of shifted ASCII and the shifted LABEL_SPACE; nothing else in
# plane 16 (`bot.rendering.units` marks live there too).
_SHIFTED_LABEL: Final = re.compile("[\U00100000-\U0010007f\U00102002]+")
LABEL_SPACE: Final = "\u2002"  # an en space between the number and the equation


@dataclass(frozen=True, slots=True)
class DisplayEquation:
    """A display formula met in the text: its LaTeX, and its Unicode form (plain text)."""

    source: str
    unicode: str


def strip_private_use(text: str) -> str:
    """Remove the supplementary private use characters markers and labels are made of."""
    return _PRIVATE_USE_SUPPLEMENT.sub("", text)


def marker(index: int) -> str:
    if not 0 <= index < MAX_MARKERS:
        raise ValueError("too many equations to mark")
    return chr(MARKER_BASE + index)


def label(number: int) -> str:
    return f"({number}){LABEL_SPACE}"


def _shift(text: str) -> str:
    return "".join(chr(_LABEL_SHIFT + ord(char)) for char in text)


def _unshift(text: str) -> str:
    return "".join(chr(ord(char) - _LABEL_SHIFT) for char in text)


def number_markers(text: str, numbers: Mapping[int, int]) -> str:
    """Each marker replaced by its equation's label (still shifted), or removed when the
    equation has no number."""

    def replace(match: re.Match[str]) -> str:
        number = numbers.get(ord(match.group(0)) - MARKER_BASE)
        return "" if number is None else _shift(label(number))

    return _MARKER.sub(replace, text)


def shifted_label(number: int) -> str:
    """How `number`'s label appears in text between `number_markers` and `take_labels`."""
    return _shift(label(number))


def take_labels(text: str) -> tuple[str, list[int]]:
    """The text with its labels readable again, and the equation numbers it holds, in order."""
    numbers: list[int] = []

    def replace(match: re.Match[str]) -> str:
        plain = _unshift(match.group(0))
        found = re.match(r"\((\d+)\)", plain)
        if found is not None:
            numbers.append(int(found.group(1)))
        return plain

    return _SHIFTED_LABEL.sub(replace, text), numbers


def remove_markers(text: str) -> str:
    """The text as it reads without equation numbers."""
    return _MARKER.sub("", text)
