"""Breaking a formula too wide for the card into lines."""

from __future__ import annotations

import pytest

from bot.typeset.wrap import find_breaks, wrap_formula


def breaks_of(source: str) -> list[tuple[str, str]]:
    return [(source[item.index :].split()[0], item.kind) for item in find_breaks(source)]


def test_breaks_come_before_relations_and_binary_operators() -> None:
    assert breaks_of("a = b + c - d") == [("=", "relation"), ("+", "operator"), ("-", "operator")]
    assert breaks_of(r"x \leq y = z") == [(r"\leq", "relation"), ("=", "relation")]


@pytest.mark.parametrize(
    "source",
    [
        r"\frac{a + b}{c - d}",  # inside braces
        r"\left( a + b \right)",  # inside \left ... \right
        r"f(a + b)",  # inside parentheses
        r"[a - b]",  # inside brackets
        r"\begin{cases} a = b \end{cases}",  # inside an environment
        r"e^{-x}",  # a sign in a script
        r"-x",  # a leading sign
    ],
)
def test_no_break_inside_a_group_or_at_a_unary_sign(source: str) -> None:
    assert find_breaks(source) == []


def test_two_character_relations_break_once() -> None:
    assert breaks_of("x := y") == [(":=", "relation")]
    assert breaks_of("a <= b") == [("<=", "relation")]


def test_unary_minus_after_a_relation_is_not_a_break() -> None:
    assert breaks_of("y = -x + 1") == [("=", "relation"), ("+", "operator")]


def measure(piece: str) -> float:
    return 10.0 * len(piece)


def test_lines_fill_greedily_and_align_under_the_first_relation() -> None:
    wrapped = wrap_formula("L = a + b + c + d + e = f", measure, 60, em=10)
    assert wrapped is not None and wrapped.source == (
        r"\begin{aligned}L &= a \\ &\quad + b \\ &\quad + c \\ &\quad + d \\ &\quad + e"
        r" \\ &= f\end{aligned}"
    )
    assert wrapped.widest == 50  # "+ e" on an indented line


def test_a_formula_without_a_relation_is_indented_when_continued() -> None:
    wrapped = wrap_formula("aaaa + bbbb + cccc", measure, 120, em=10)
    assert wrapped is not None
    assert wrapped.source == r"\begin{aligned}&aaaa + bbbb \\ &\quad + cccc\end{aligned}"


def test_what_cannot_or_need_not_be_broken_is_left_alone() -> None:
    assert wrap_formula(r"\left( a + b + c \right)", measure, 10, em=10) is None
    assert wrap_formula("a + b", measure, 1000, em=10) is None
    # Already laid out in rows or columns by its author.
    assert wrap_formula(r"a &= b + c \\ &= d", measure, 10, em=10) is None
