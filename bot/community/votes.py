"""Vote arithmetic: one vote per member per summary, -1, 0 (none) or +1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VoteValue = Literal[-1, 0, 1]
UP: VoteValue = 1
DOWN: VoteValue = -1
NONE: VoteValue = 0


@dataclass(frozen=True, slots=True)
class VoteChange:
    """What pressing a button did: the vote before and after, and the change to the score."""

    old: VoteValue
    new: VoteValue

    @property
    def delta(self) -> int:
        return self.new - self.old

    @property
    def withdrawn(self) -> bool:
        return self.old != NONE and self.new == NONE


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    """A press of a vote button: what it changed, and the summary's score after it."""

    change: VoteChange
    score: int


def vote_value(stored: int) -> VoteValue:
    """A stored vote (-1, 0 for none, +1) as a `VoteValue`."""
    if stored == UP:
        return UP
    if stored == DOWN:
        return DOWN
    if stored == NONE:
        return NONE
    raise ValueError(f"a stored vote is -1, 0 or +1, not {stored}")


def press(current: VoteValue, pressed: VoteValue) -> VoteChange:
    """Pressing the button of your current vote withdraws it; the other button switches."""
    if pressed not in (UP, DOWN):
        raise ValueError(f"a button votes +1 or -1, not {pressed}")
    if current not in (UP, DOWN, NONE):
        raise ValueError(f"a stored vote is -1, 0 or +1, not {current}")
    new: VoteValue = NONE if current == pressed else pressed
    return VoteChange(old=current, new=new)


def total(votes: list[int]) -> int:
    """A summary's score: the sum of its votes."""
    for vote in votes:
        if vote not in (UP, DOWN):
            raise ValueError(f"a stored vote is -1 or +1, not {vote}")
    return sum(votes)


def format_score(score: int) -> str:
    """'+3', '0', '-2': a score as the community commands print it."""
    return f"+{score}" if score > 0 else str(score)
