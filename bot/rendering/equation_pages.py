"""Pages whose display equations are shown on an image card: numbering and grouping.

Given rendered text with equation markers (`bot.rendering.equations`) and the page breaker's
marks (`bot.rendering.units`: formulas kept whole, image anchors) and, for each equation,
its typeset drawing or None (not typeset: Unicode only), `plan_pages`

- numbers the typeset equations (1), (2)... in reading order, at most `MAX_NUMBERED`;
- paginates the text so that the equations a page holds fit one card (a card taller than
  `MathStyle.max_card_height` would be shrunk by Discord past legibility): when they do not,
  a page break is placed before the line of the first equation that does not fit;
- returns each page, its marks removed, with the numbers, formulas and Unicode forms of its
  equations and the images it shows (indexes into the rendered summary's `image_urls`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from bot.rendering.equations import (
    DisplayEquation,
    number_markers,
    remove_markers,
    shifted_label,
    take_labels,
)
from bot.rendering.pages import EmbedPage
from bot.rendering.text import shorten
from bot.rendering.units import strip_units, take_images
from bot.typeset.layout import Drawing, card_height
from bot.typeset.style import MathStyle

# Beyond this many display equations a summary shows the rest in Unicode only.
MAX_NUMBERED: Final = 60
ALT_TEXT_LIMIT: Final = 1024  # Discord's limit for an attachment's description

Paginate = Callable[[str, Sequence[int]], list[EmbedPage]]


@dataclass(frozen=True, slots=True)
class PageEquations:
    """The display equations one page shows on its card, in reading order."""

    numbers: tuple[int, ...]
    sources: tuple[str, ...]
    forms: tuple[str, ...]  # Unicode forms, for the card's alt text

    @property
    def alt_text(self) -> str:
        """What a screen reader says for the card: `(1) x = y; (2) ...`."""
        parts = [
            f"({number}) {' '.join(form.split())}"
            for number, form in zip(self.numbers, self.forms, strict=True)
        ]
        return shorten("; ".join(parts), ALT_TEXT_LIMIT)


@dataclass(frozen=True, slots=True)
class PlannedPage:
    page: EmbedPage
    equations: PageEquations | None
    # The images whose links the page shows, in order (indexes into the image list).
    images: tuple[int, ...] = ()


def _shown(page: EmbedPage) -> tuple[EmbedPage, list[int], tuple[int, ...]]:
    """The page without marks, the equation numbers it holds and the images it shows."""
    description, numbers = take_labels(page.description)
    description, images = take_images(strip_units(description))
    return replace(page, description=description), numbers, tuple(images)


def _without_card(page: EmbedPage) -> PlannedPage:
    shown, _, images = _shown(page)
    return PlannedPage(shown, None, images)


def plan_pages(
    text: str,
    equations: Sequence[DisplayEquation],
    drawings: Sequence[Drawing | None],
    paginate: Paginate,
    style: MathStyle,
) -> list[PlannedPage]:
    """Number the typeset equations, paginate so each page's equations fit one card."""
    numbers: dict[int, int] = {}
    for index, drawing in enumerate(drawings[: len(equations)]):
        if drawing is not None and len(numbers) < MAX_NUMBERED:
            numbers[index] = len(numbers) + 1
    if not numbers:
        return [_without_card(page) for page in paginate(remove_markers(text), ())]
    numbered = number_markers(text, numbers)
    by_number = {number: index for index, number in numbers.items()}
    breaks: list[int] = []
    while True:
        pages = paginate(numbered, breaks)
        overflow = _first_overflow(pages, by_number, drawings, style)
        if overflow is None:
            break
        cut = _break_before(numbered, overflow)
        if cut is None or cut in breaks:
            break  # cannot split further: the card is shrunk a little more by Discord
        breaks.append(cut)
    planned: list[PlannedPage] = []
    for page in pages:
        shown, on_page, images = _shown(page)
        if not on_page:
            planned.append(PlannedPage(shown, None, images))
            continue
        indexes = [by_number[number] for number in on_page]
        planned.append(
            PlannedPage(
                shown,
                PageEquations(
                    numbers=tuple(on_page),
                    sources=tuple(equations[index].source for index in indexes),
                    forms=tuple(equations[index].unicode for index in indexes),
                ),
                images,
            )
        )
    return planned


def _break_before(numbered: str, number: int) -> int | None:
    """Where a page must end so that equation `number` starts the next one: the start of
    its paragraph (the words introducing it go with it) when no other equation is in
    between, else the start of its line."""
    offset = numbered.find(shifted_label(number))
    if offset < 0:
        return None
    previous = numbered.rfind(shifted_label(number - 1), 0, offset) if number > 1 else -1
    paragraph = numbered.rfind("\n\n", max(previous, 0), offset)
    if paragraph >= 0 and paragraph > previous:
        return paragraph + 2
    return numbered.rfind("\n", 0, offset) + 1


def _first_overflow(
    pages: Sequence[EmbedPage],
    by_number: dict[int, int],
    drawings: Sequence[Drawing | None],
    style: MathStyle,
) -> int | None:
    """The number of the first equation that does not fit on its page's card, if any."""
    for page in pages:
        _, on_page = take_labels(page.description)
        shown: list[Drawing] = []
        for number in on_page:
            drawing = drawings[by_number[number]]
            assert drawing is not None  # only typeset equations are numbered
            shown.append(drawing)
            if len(shown) > 1 and card_height(shown, style) > style.max_card_height:
                return number
    return None
