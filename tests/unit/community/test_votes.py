"""Vote arithmetic: -1/0/+1 per member, pressing again withdraws, the score is the sum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.community.votes import DOWN, NONE, UP, VoteValue, press, total


@pytest.mark.parametrize(
    ("current", "pressed", "new", "delta"),
    [
        (NONE, UP, UP, 1),
        (NONE, DOWN, DOWN, -1),
        (UP, UP, NONE, -1),  # withdraw
        (DOWN, DOWN, NONE, 1),  # withdraw
        (UP, DOWN, DOWN, -2),  # switch
        (DOWN, UP, UP, 2),
    ],
)
def test_press(current: VoteValue, pressed: VoteValue, new: VoteValue, delta: int) -> None:
    change = press(current, pressed)
    assert change.new == new
    assert change.delta == delta
    assert change.withdrawn == (new == NONE)


def test_press_refuses_a_zero_button_and_odd_state() -> None:
    with pytest.raises(ValueError):
        press(NONE, NONE)
    with pytest.raises(ValueError):
        press(2, UP)  # type: ignore[arg-type]


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([UP, DOWN])), max_size=200))
def test_score_by_deltas_equals_sum_of_current_votes(presses: list[tuple[int, int]]) -> None:
    """Applying deltas one press at a time always equals recounting the stored votes."""
    votes: dict[int, VoteValue] = {}
    score = 0
    for voter, button in presses:
        change = press(votes.get(voter, NONE), button)  # type: ignore[arg-type]
        score += change.delta
        if change.new == NONE:
            votes.pop(voter, None)
        else:
            votes[voter] = change.new
        assert abs(score) <= len(votes)
    assert score == total(list(votes.values()))


def test_total_refuses_stored_zero() -> None:
    with pytest.raises(ValueError):
        total([1, 0])
