"""The typesetting engine, run in this process (the workers run the same code)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import ziamath.styles
from ziamath.nodes.mrow import Mrow

from bot.typeset import engine
from bot.typeset.screen import Refusal, prepare_formula
from bot.typeset.style import DEFAULT_STYLE
from tests.unit.typeset.corpus import CORPUS


def prepared(tex: str) -> str:
    result = prepare_formula(tex)
    assert not isinstance(result, Refusal), result
    return result


def test_the_layout_speed_ups_draw_exactly_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skipping needless row measurements and shallow style copies change no drawing of
    the corpus."""
    fast = [engine.typeset(prepared(f.tex), DEFAULT_STYLE) for f in CORPUS]
    monkeypatch.setattr(Mrow, "_get_height_nostretch", engine._measure_row_without_stretching)
    monkeypatch.setattr(ziamath.styles, "asdict", dataclasses.asdict)
    slow = [engine.typeset(prepared(f.tex), DEFAULT_STYLE) for f in CORPUS]
    for formula, quick, careful in zip(CORPUS, fast, slow, strict=True):
        assert quick == careful, formula.origin


def test_a_large_operator_in_a_fenced_fraction_keeps_its_size() -> None:
    """ziamath stretched ∑ to its row inside \\left[...\\right]: thousands of pixels."""
    answer = engine.typeset(r"\left[\frac{a}{\sum_{j} b_j}\right]", DEFAULT_STYLE)
    assert answer["box"][3] < 4 * DEFAULT_STYLE.font_px


@pytest.mark.parametrize(
    "source",
    [
        r"\KL(p \| q)",  # unknown command
        r"\frac{a}",  # missing argument
        "a_b_c",  # double subscript
        "{",
    ],
)
def test_what_cannot_be_typeset_raises(source: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 (any library error means "not typeset")
        engine.typeset(source, DEFAULT_STYLE)


@pytest.mark.parametrize(
    "source",
    [
        r"\rule{100000pt}{100000pt}",
        r"x \hspace{1609344mm} y",  # a mile
        r"\mspace{100000mu}",
    ],
)
def test_huge_drawings_are_refused_before_any_svg_or_raster(source: str) -> None:
    """What the screen would refuse, the engine refuses too: no pixels for a mile."""
    with pytest.raises(engine.Unrenderable):
        engine.typeset(source, DEFAULT_STYLE)


def test_rasterising_checks_the_declared_size_first() -> None:
    small = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"/>'
    assert engine.rasterise(small).startswith(b"\x89PNG")
    for width, height in ((100_000, 100_000), (4096, 4096), (0, 10)):
        huge = f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"/>'
        with pytest.raises(engine.Unrenderable):
            engine.rasterise(huge)
    with pytest.raises(engine.Unrenderable):
        engine.rasterise('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 9 9"/>')


def test_a_formula_too_wide_is_wrapped_then_shrunk_then_given_the_whole_width() -> None:
    style = DEFAULT_STYLE
    whole = style.width - 2 * style.padding
    long_sum = " + ".join(f"x_{{{n}}}" for n in range(40))
    answer = engine.typeset(f"S = {long_sum}", style)
    assert answer["wrapped"] and not answer["number_below"] and answer["scale"] == 1.0

    def unbreakable(words: int) -> dict[str, Any]:
        return engine.typeset(r"\left(" + " ".join(["abcdefgh"] * words) + r"\right)", style)

    width = engine._layout(r"\left(abcdefgh\right)", style).getsize()[0]
    shrunk = unbreakable(int(style.equation_room / width) + 1)
    assert not shrunk["wrapped"] and not shrunk["number_below"]
    assert style.min_scale <= shrunk["scale"] < 1.0
    below = next(answer for answer in map(unbreakable, range(2, 12)) if answer["number_below"])
    box, scale = below["box"], below["scale"]
    assert isinstance(box, list) and isinstance(scale, float)
    assert box[2] * scale <= whole and scale >= style.min_scale
    with pytest.raises(engine.Unrenderable):
        unbreakable(40)
