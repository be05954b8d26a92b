"""Small text helpers: the one way a count and its noun are written."""

from __future__ import annotations

import pytest

from bot.rendering.text import plural, plural_noun


@pytest.mark.parametrize(
    ("count", "singular", "expected"),
    [
        (1, "current entry", "1 current entry"),
        (2, "current entry", "2 current entries"),
        (0, "summary", "0 summaries"),
        (1, "poll", "1 poll"),
        (10, "poll", "10 polls"),
        (3, "match", "3 matches"),
        (2, "day", "2 days"),  # a vowel before the y: just an s
        (1.0, "minute", "1 minute"),
        (1.5, "minute", "1.5 minutes"),
        (-1, "vote", "-1 vote"),
    ],
)
def test_plural_picks_the_noun_by_the_count(count: float, singular: str, expected: str) -> None:
    assert plural(count, singular) == expected


def test_plural_shows_the_number_as_asked_and_takes_irregular_forms() -> None:
    assert plural(1, "vote", shown="+1") == "+1 vote"
    assert plural(4, "vote", shown="+4") == "+4 votes"
    assert plural(2, "person", "people") == "2 people"
    assert plural_noun(1, "person", "people") == "person"
