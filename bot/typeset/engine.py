"""Typesetting and rasterising, as done inside a worker process (the jobs of `bot.typeset.worker`).

ziamath turns LaTeX into MathML (through latex2mathml) and lays it out with the STIX Two
Math font into SVG paths, in pure Python; resvg (Rust, through resvg-py) rasterises SVG to
PNG. Neither needs a TeX installation or system libraries. Both are only imported here, in
the workers: a formula that makes them hang, recurse or allocate without end costs a worker,
which is killed and replaced, never the bot.

Bounds enforced here, whatever the screen let through: a formula whose laid-out box is not
finite or larger than the card allows after scaling (`MathStyle.min_scale`) is refused before
any SVG is written, and nothing larger than `MAX_RASTER_PIXELS` is ever rasterised.
"""

from __future__ import annotations

import dataclasses
import math
import re
import xml.etree.ElementTree as ET
from typing import Any, Final

import resvg_py
import ziamath
import ziamath.styles
from ziamath import operators
from ziamath.nodes.mrow import Mrow
from ziamath.tex import tex2mml

from bot.typeset.layout import LABEL_ASCENT_EM, LABEL_DESCENT_EM
from bot.typeset.style import MathStyle
from bot.typeset.wrap import Wrapping, wrap_formula

# A formula is shrunk this far to keep it on one line with its number before it is broken.
SHRINK_BEFORE_WRAP: Final = 0.85
# Lines measured piece by piece come out a little narrower or wider once set together.
WRAP_ESTIMATE_SLACK: Final = 1.05
MAX_RASTER_SIDE: Final = 4096
MAX_RASTER_PIXELS: Final = 4_000_000
# A laid-out box past this (in pixels) is refused at once, before any scaling is considered.
MAX_LAYOUT_PX: Final = 50_000.0
_ROOT_SIZE: Final = re.compile(r'^<svg\b[^>]*?\bwidth="(\d+)"[^>]*?\bheight="(\d+)"')

# Paths are written inline (no <symbol>/<use>), so equations can be stacked in one image,
# and filled with currentColor, so one drawing serves any ink colour.
ziamath.config.svg2 = False
ziamath.config.math.color = "currentColor"
ziamath.config.numbering.autonumber = False


# ziamath lays out every row twice: once without its stretchy operators (`\\left(`, big
# braces) to learn how far they must stretch, then for real. As rows nest, that doubles per
# level: a fraction inside a square root inside a fraction costs eight layouts. The first
# pass only matters where a stretchy operator lies somewhere below the row (its size, and
# so the row's, comes from it); when none does, the row is laid out once. Drawings are
# identical either way (a test compares them over the whole corpus).
_MATHML: Final = "{http://www.w3.org/1998/Math/MathML}"
_measure_row_without_stretching = Mrow._get_height_nostretch


def _holds_stretchy_operator(element: ET.Element) -> bool:
    """Whether an operator that may stretch lies anywhere in `element`."""
    for node in element.iter():
        text = (node.text or "").strip()
        if node.tag == "mo" or (node.tag == "mi" and text in operators.names):
            explicit = node.get("stretchy")
            if explicit is not None:
                if explicit != "false":
                    return True
            elif any(
                operators.get_params(text, form).get("stretchy", "false") != "false"
                for form in ("prefix", "infix", "postfix")
            ):
                return True
    return False


def _row_height_without_stretching(
    self: Mrow, line: list[ET.Element], **kwargs: Any
) -> tuple[float, float]:
    if any(_holds_stretchy_operator(child) for child in line):
        return _measure_row_without_stretching(self, line, **kwargs)
    return 9999.0, -9999.0  # what ziamath answers for a row with nothing to measure


Mrow._get_height_nostretch = _row_height_without_stretching


def _shallow_fields(style: Any) -> dict[str, Any]:
    return {field.name: getattr(style, field.name) for field in dataclasses.fields(style)}


# ziamath works out every node's style from its parent's through `dataclasses.asdict`, a
# deep copy, though it only reads the top-level values: a shallow view gives it the same
# answers a quarter faster.
ziamath.styles.asdict = _shallow_fields  # type: ignore[assignment]


class Unrenderable(Exception):
    """The formula cannot be typeset: unknown command, syntax error, or over a bound."""


def typeset(source: str, style: MathStyle) -> dict[str, Any]:
    """A formula as SVG markup fitted to the card, as the worker answers it.

    `{"inner": svg children, "box": [x, y, width, height] (the drawing's viewBox at the
    style's font size, baseline at y = 0), "scale": how much to shrink it, "wrapped": bool,
    "number_below": bool}`. Raises `Unrenderable` (or whatever the libraries raise on
    broken input).

    A formula too wide for the card is, in this order of preference: shrunk a little
    (to `SHRINK_BEFORE_WRAP`), broken into lines, shrunk further (to `min_scale`), given
    the whole width with its number on the line below; else refused.
    """
    drawing = _layout(source, style)
    inline, whole = style.equation_room, style.width - 2 * style.padding
    wrapping: Wrapping | None = None
    wrapped: ziamath.Math | None = None
    # (drawing, or None for the wrapped one; smallest scale allowed; with the number below)
    candidates: list[tuple[ziamath.Math | None, float, bool]] = [
        (drawing, SHRINK_BEFORE_WRAP, False)
    ]
    if drawing.getsize()[0] * SHRINK_BEFORE_WRAP > inline:
        wrapping = wrap_formula(
            source, lambda piece: _layout(piece, style).getsize()[0], inline, em=style.font_px
        )
        candidates += [
            (None, style.min_scale, False),
            (drawing, style.min_scale, False),
            (drawing, style.min_scale, True),
            (None, style.min_scale, True),
        ]
    for candidate, floor, number_below in candidates:
        room = whole if number_below else inline
        if candidate is None:
            # Lay the broken formula out only when its lines, measured in pieces, may fit.
            if wrapping is None or wrapping.widest * floor > room * WRAP_ESTIMATE_SLACK:
                continue
            wrapped = wrapped or _layout(wrapping.source, style)
            candidate = wrapped
        width, height = (side + 2 * candidate.margin for side in candidate.getsize())
        tallest = style.max_equation_height - (_label_height(style) if number_below else 0)
        scale = min(1.0, room / width if width else 1.0, tallest / height if height else 1.0)
        if scale >= floor:
            svg = candidate.svgxml()
            box = [float(value) for value in svg.attrib["viewBox"].split()]
            inner = "".join(ET.tostring(child, encoding="unicode") for child in svg)
            return {
                "inner": inner,
                "box": box,
                "scale": scale,
                "wrapped": candidate is wrapped,
                "number_below": number_below,
            }
    width, height = drawing.getsize()
    raise Unrenderable(f"{width:.0f} × {height:.0f} px does not fit the card")


def _label_height(style: MathStyle) -> float:
    return (LABEL_ASCENT_EM + LABEL_DESCENT_EM) * style.font_px


def _layout(source: str, style: MathStyle) -> ziamath.Math:
    element = ET.fromstring(tex2mml(source))
    unknown = _unknown_command(element)
    if unknown is not None:
        raise Unrenderable(f"unknown command {unknown}")
    for table in element.iter(f"{_MATHML}mtable"):
        # Matrices and cases get MathJax's 1em between columns (latex2mathml sets none), and
        # their cells are in text style, as in TeX and MathML (aligned says display itself).
        table.attrib.setdefault("columnspacing", "1em")
        table.attrib.setdefault("displaystyle", "false")
    for fraction in element.iter(f"{_MATHML}mfrac"):
        # A fraction's numerator and denominator are in text style, even in display math:
        # `\\frac{e^x}{\\sum_j e^{x_j}}` has its limits beside the sum, as TeX sets it.
        for part in fraction:
            part.attrib.setdefault("displaystyle", "false")
    for operator in element.iter(f"{_MATHML}mo"):
        # TeX sizes a large operator (∑, ∫, ⋃...) by style, never by its row; ziamath's
        # dictionary makes them stretchy, and one in a fraction inside \left...\right then
        # grows to thousands of pixels.
        text = (operator.text or "").strip()
        if "stretchy" not in operator.attrib and _is_large_operator(text):
            operator.set("stretchy", "false")
    drawing = ziamath.Math(element, size=style.font_px)
    width, height = drawing.getsize()
    if not (math.isfinite(width) and math.isfinite(height)):
        raise Unrenderable("the layout has no finite size")
    if width > MAX_LAYOUT_PX or height > MAX_LAYOUT_PX:
        raise Unrenderable(f"{width:.0f} × {height:.0f} px is far too large")
    return drawing


def _is_large_operator(text: str) -> bool:
    return any(
        operators.get_params(text, form).get("largeop") == "true"
        for form in ("prefix", "infix", "postfix")
    )


def _unknown_command(element: ET.Element) -> str | None:
    """latex2mathml keeps a command it does not know as text (`<mi>\\KL</mi>`)."""
    for node in element.iter():
        text = (node.text or "").strip()
        if text.startswith("\\") and len(text) > 1:
            return text
    return None


def rasterise(svg: str) -> bytes:
    """PNG bytes for an SVG whose root declares its integer pixel size within the bounds."""
    size = _ROOT_SIZE.match(svg)
    if size is None:
        raise Unrenderable("the SVG does not declare its pixel size")
    width, height = int(size.group(1)), int(size.group(2))
    if not (0 < width <= MAX_RASTER_SIDE and 0 < height <= MAX_RASTER_SIDE):
        raise Unrenderable(f"{width} × {height} px is over the raster bound")
    if width * height > MAX_RASTER_PIXELS:
        raise Unrenderable(f"{width} × {height} px is over the raster bound")
    return bytes(resvg_py.svg_to_bytes(svg_string=svg, skip_system_fonts=True))
