"""Stacking a page's equations on a card: geometry and SVG."""

from __future__ import annotations

import re
from typing import Any

from bot.typeset.layout import LABEL_ASCENT_EM, LABEL_DESCENT_EM, Drawing, card_height, compose_card
from bot.typeset.style import DEFAULT_STYLE

STYLE = DEFAULT_STYLE
EM = STYLE.font_px


def drawing(width: float, ascent: float, descent: float, **options: Any) -> Drawing:
    return Drawing(
        inner='<path d="M 0 0"/>', box=(-1.0, -ascent, width, ascent + descent), **options
    )


def test_rows_are_at_least_as_tall_as_their_number() -> None:
    flat = drawing(100, 1, 1)
    expected = 2 * STYLE.padding + (LABEL_ASCENT_EM + LABEL_DESCENT_EM) * EM
    assert card_height([flat], STYLE) == round(expected + 0.5)


def test_card_height_adds_rows_and_gaps() -> None:
    tall = drawing(200, 60, 40)
    assert card_height([tall, tall], STYLE) == round(2 * STYLE.padding + 200 + STYLE.gap + 0.5)


def test_scaled_drawings_count_at_their_scale() -> None:
    assert drawing(100, 100, 100, scale=0.5).ascent == 50
    assert drawing(100, 100, 100, scale=0.5).width == 50


def test_a_number_below_adds_a_line() -> None:
    below = drawing(600, 60, 40, number_below=True)
    inline = drawing(600, 60, 40)
    label_line = (LABEL_ASCENT_EM + LABEL_DESCENT_EM) * EM
    assert card_height([below], STYLE) - card_height([inline], STYLE) == round(label_line)


def test_the_card_is_an_svg_of_whole_pixels_with_each_equation_and_number() -> None:
    rows = [(drawing(300, 30, 10), drawing(40, 20, 8)), (drawing(500, 50, 20), drawing(40, 20, 8))]
    card = compose_card(rows, STYLE)
    assert (card.width, card.height) == (STYLE.width, card_height([r[0] for r in rows], STYLE))
    assert card.svg.startswith(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{card.width}" height="{card.height}"'
    )
    assert card.svg.count(f'color="{STYLE.ink}"') == 2
    assert card.svg.count(f'color="{STYLE.number_ink}"') == 2
    assert f'rx="{STYLE.radius:g}"' in card.svg


def placements(svg: str) -> list[tuple[float, float]]:
    return [
        (float(x), float(y))
        for x, y in re.findall(r'transform="translate\(([\d.]+) ([\d.]+)\)', svg)
    ]


def test_equations_are_centred_and_numbers_right_aligned_on_their_baseline() -> None:
    equation, label = drawing(200, 30, 10), drawing(40, 20, 8)
    (x, baseline), (label_x, label_baseline) = placements(
        compose_card([(equation, label)], STYLE).svg
    )
    assert x == (STYLE.width - 200) / 2
    assert label_x + 40 == STYLE.width - STYLE.padding
    assert baseline == label_baseline


def test_a_wide_equation_moves_left_of_the_numbers() -> None:
    wide = drawing(STYLE.equation_room, 30, 10)
    (x, _), (label_x, _) = placements(compose_card([(wide, drawing(40, 20, 8))], STYLE).svg)
    assert x + STYLE.equation_room <= label_x - STYLE.number_gap + 0.01
    assert x >= STYLE.padding


def test_a_number_below_sits_under_its_equation() -> None:
    wide = drawing(700, 30, 10, number_below=True)
    (_, baseline), (_, label_baseline) = placements(
        compose_card([(wide, drawing(40, 20, 8))], STYLE).svg
    )
    assert label_baseline == baseline + 10 + LABEL_ASCENT_EM * EM
