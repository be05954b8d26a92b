"""The page breaker's marks: units kept whole, image anchors, and their removal."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rendering.units import (
    MAX_IMAGES,
    UNIT_CLOSE,
    UNIT_OPEN,
    image_anchor,
    strip_marks,
    strip_units,
    take_images,
    unit,
    unit_spans,
)


def test_units_are_found_with_their_marks() -> None:
    text = "a " + unit("x + y") + " b " + unit("z") + " c"
    spans = unit_spans(text)
    assert [text[start:end] for start, end in spans] == [unit("x + y"), unit("z")]
    assert strip_units(text) == "a x + y b z c"
    assert unit("") == ""


def test_a_mark_without_its_partner_marks_nothing() -> None:
    assert unit_spans(f"a {UNIT_CLOSE} b {UNIT_OPEN} c") == []
    # A page cut out of the middle of a unit: its unmatched close is ignored.
    assert unit_spans(f"x{UNIT_CLOSE} y {UNIT_OPEN}z{UNIT_CLOSE}") == [(5, 8)]


def test_images_are_taken_in_order_without_repeats() -> None:
    text = f"{image_anchor(2)}[a] {image_anchor(0)}[b] {image_anchor(2)}[c]"
    assert take_images(text) == ("[a] [b] [c]", [2, 0])
    assert image_anchor(MAX_IMAGES) == ""


@given(st.lists(st.one_of(st.text(max_size=10), st.sampled_from([UNIT_OPEN, UNIT_CLOSE]))))
@settings(max_examples=200, deadline=None)
def test_spans_are_ordered_and_disjoint(pieces: list[str]) -> None:
    text = "".join(pieces)
    spans = unit_spans(text)
    assert all(text[start] == UNIT_OPEN and text[end - 1] == UNIT_CLOSE for start, end in spans)
    assert all(first[1] <= second[0] for first, second in pairwise(spans))
    assert UNIT_OPEN not in strip_marks(text) and UNIT_CLOSE not in strip_marks(text)
