"""Stacking a page's typeset equations on one card: pure geometry and SVG text.

A card is `MathStyle.width` pixels wide: each equation centred (moved left when it would
run into the numbers), its number right-aligned on the same baseline, equations in reading
order `gap` apart, all inside `padding`, on a white rounded rectangle. The heights computed
here are the ones the page planner uses to decide which equations share a card.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from bot.typeset.style import MathStyle

# The box kept for a number label "(n)", in em (STIX Two parentheses reach about this far).
LABEL_ASCENT_EM: Final = 0.80
LABEL_DESCENT_EM: Final = 0.28


@dataclass(frozen=True, slots=True)
class Drawing:
    """A typeset formula: SVG markup drawn in `box` (x, y, width, height; baseline at y = 0),
    to be shown shrunk by `scale`."""

    inner: str
    box: tuple[float, float, float, float]
    scale: float = 1.0
    wrapped: bool = False
    # Too wide to share its line with its number: the number goes on the line below.
    number_below: bool = False

    @classmethod
    def from_answer(cls, answer: dict[str, Any]) -> Drawing:
        x, y, width, height = (float(value) for value in answer["box"])
        return cls(
            inner=str(answer["inner"]),
            box=(x, y, width, height),
            scale=float(answer.get("scale", 1.0)),
            wrapped=bool(answer.get("wrapped", False)),
            number_below=bool(answer.get("number_below", False)),
        )

    def to_answer(self) -> dict[str, Any]:
        return {
            "inner": self.inner,
            "box": list(self.box),
            "scale": self.scale,
            "wrapped": self.wrapped,
            "number_below": self.number_below,
        }

    @property
    def width(self) -> float:
        return self.box[2] * self.scale

    @property
    def ascent(self) -> float:
        return -self.box[1] * self.scale

    @property
    def descent(self) -> float:
        return (self.box[1] + self.box[3]) * self.scale


def _row(drawing: Drawing, style: MathStyle) -> tuple[float, float]:
    """(ascent, descent) of an equation's row, its number included."""
    label_ascent, label_descent = LABEL_ASCENT_EM * style.font_px, LABEL_DESCENT_EM * style.font_px
    if drawing.number_below:
        return drawing.ascent, drawing.descent + label_ascent + label_descent
    return max(drawing.ascent, label_ascent), max(drawing.descent, label_descent)


def card_height(drawings: Sequence[Drawing], style: MathStyle) -> int:
    """The height of a card stacking these equations."""
    rows = sum(sum(_row(drawing, style)) for drawing in drawings)
    return math.ceil(2 * style.padding + rows + style.gap * max(0, len(drawings) - 1))


@dataclass(frozen=True, slots=True)
class Card:
    svg: str
    width: int
    height: int


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _placed(drawing: Drawing, x: float, baseline: float, colour: str) -> str:
    box_x, _box_y, _, _ = drawing.box
    transform = (
        f"translate({_number(x)} {_number(baseline)}) scale({_number(drawing.scale)}) "
        f"translate({_number(-box_x)} 0)"
    )
    return f'<g color="{colour}" transform="{transform}">{drawing.inner}</g>'


def compose_card(rows: Sequence[tuple[Drawing, Drawing]], style: MathStyle) -> Card:
    """The card for (equation, number label) pairs, as SVG sized in whole pixels."""
    width = style.width
    height = card_height([equation for equation, _ in rows], style)
    inset = style.border_px / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f'<rect x="{_number(inset)}" y="{_number(inset)}" '
        f'width="{_number(width - 2 * inset)}" height="{_number(height - 2 * inset)}" '
        f'rx="{_number(style.radius)}" fill="{style.card}" stroke="{style.border}" '
        f'stroke-width="{_number(style.border_px)}"/>',
    ]
    right_edge = width - style.padding
    equation_limit = right_edge - style.number_column - style.number_gap
    top = style.padding
    for equation, label in rows:
        ascent, descent = _row(equation, style)
        baseline = top + ascent
        x = (width - equation.width) / 2
        limit = right_edge if equation.number_below else equation_limit
        x = max(style.padding, min(x, limit - equation.width))
        parts.append(_placed(equation, x, baseline, style.ink))
        label_baseline = baseline
        if equation.number_below:
            label_baseline += equation.descent + LABEL_ASCENT_EM * style.font_px
        parts.append(_placed(label, right_edge - label.width, label_baseline, style.number_ink))
        top = baseline + descent + style.gap
    parts.append("</svg>")
    return Card(svg="".join(parts), width=width, height=height)
