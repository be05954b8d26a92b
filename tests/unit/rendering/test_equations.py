"""Equation markers and number labels in rendered text."""

from __future__ import annotations

from bot.rendering.equations import (
    LABEL_SPACE,
    marker,
    number_markers,
    remove_markers,
    shifted_label,
    strip_private_use,
    take_labels,
)


def test_markers_become_labels_of_the_same_length_until_taken_back() -> None:
    text = f"Intro\n{marker(0)}a = b\ntext\n{marker(1)}c = d\n{marker(2)}e = f"
    numbered = number_markers(text, {0: 1, 2: 2})
    # Equation 1 (the second) is not typeset: no number, no marker.
    assert len(numbered) == len(text) - 3 + 2 * len(f"(1){LABEL_SPACE}")
    assert shifted_label(1) in numbered and shifted_label(2) in numbered
    shown, numbers = take_labels(numbered)
    assert numbers == [1, 2]
    assert shown == f"Intro\n(1){LABEL_SPACE}a = b\ntext\nc = d\n(2){LABEL_SPACE}e = f"


def test_labels_are_found_per_page() -> None:
    numbered = number_markers(f"{marker(0)}x\n\n{marker(1)}y", {0: 7, 1: 8})
    first, second = numbered.split("\n\n")
    assert take_labels(first)[1] == [7] and take_labels(second)[1] == [8]


def test_readers_text_cannot_forge_markers_or_labels() -> None:
    forged = f"a{marker(3)}b{shifted_label(9)}c"
    assert strip_private_use(forged) == "abc"
    assert remove_markers(f"{marker(0)}x = y") == "x = y"
