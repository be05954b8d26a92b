"""Numbering typeset equations and keeping each page's equations on one card."""

from __future__ import annotations

from collections.abc import Sequence

from bot.rendering.equation_pages import ALT_TEXT_LIMIT, PageEquations, plan_pages
from bot.rendering.equations import DisplayEquation, marker
from bot.rendering.pages import EmbedPage, paginate_for_embed
from bot.typeset.layout import Drawing
from bot.typeset.style import DEFAULT_STYLE


def paginate(text: str, breaks: Sequence[int]) -> list[EmbedPage]:
    return paginate_for_embed(text, title="T", breaks=breaks)


def drawing(height: float) -> Drawing:
    return Drawing(inner="", box=(0.0, -height / 2, 100.0, height))


def document(count: int) -> tuple[str, list[DisplayEquation]]:
    equations = [DisplayEquation(f"x_{{{i}}}", f"x{i}") for i in range(count)]
    text = "\n\n".join(f"Step {i}:\n{marker(i)}x{i}" for i in range(count))
    return text, equations


def test_typeset_equations_are_numbered_in_order_and_the_others_are_not() -> None:
    text, equations = document(4)
    drawings = [drawing(40), None, drawing(40), drawing(40)]
    [page] = plan_pages(text, equations, drawings, paginate, DEFAULT_STYLE)
    assert page.equations == PageEquations(
        numbers=(1, 2, 3), sources=("x_{0}", "x_{2}", "x_{3}"), forms=("x0", "x2", "x3")
    )
    description = page.page.description
    assert "(1)\u2002x0" in description and "(2)\u2002x2" in description
    assert "\nx1" in description and "(4)" not in description


def test_without_drawings_nothing_is_numbered() -> None:
    text, equations = document(2)
    [page] = plan_pages(text, equations, [None, None], paginate, DEFAULT_STYLE)
    assert page.equations is None and "(1)" not in page.page.description


def test_a_page_breaks_before_the_equation_that_would_overflow_its_card() -> None:
    text, equations = document(6)
    tall = DEFAULT_STYLE.max_card_height / 2.5
    planned = plan_pages(text, equations, [drawing(tall)] * 6, paginate, DEFAULT_STYLE)
    assert [page.equations.numbers for page in planned if page.equations] == [
        (1, 2),
        (3, 4),
        (5, 6),
    ]
    assert planned[1].page.description.startswith("Step 2:")


def test_alt_text_lists_the_forms_with_their_numbers_within_discords_limit() -> None:
    equations = PageEquations(numbers=(3, 4), sources=("a", "b"), forms=("a = b", "c =\nd"))
    assert equations.alt_text == "(3) a = b; (4) c = d"
    long = PageEquations(numbers=(1,), sources=("x",), forms=("x" * 5000,))
    assert len(long.alt_text) == ALT_TEXT_LIMIT
