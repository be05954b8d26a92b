"""The screen in front of the typesetter: hostile formulas refused, others normalised."""

from __future__ import annotations

import pytest

from bot.typeset.screen import MAX_SOURCE_CHARS, Refusal, prepare_formula
from tests.unit.typeset.corpus import CORPUS

MILE_IN_MM = "1609344mm"

HOSTILE = {
    "20,000 characters": "x+" * 10_000,
    "braces nested 5,000 deep": "{" * 5000 + "x" + "}" * 5000,
    "\\left nested 5,000 deep": "\\left(" * 5000 + "x" + "\\right)" * 5000,
    "environments nested deep": "\\begin{matrix}" * 40 + "x" + "\\end{matrix}" * 40,
    "a \\def loop": r"\def\a{\a\a}\a",
    "a \\newcommand loop": r"\newcommand{\x}{\x\x}\x",
    "\\renewcommand": r"\renewcommand{\frac}{\frac\frac}\frac{1}{2}",
    "\\let": r"\let\a\b \a",
    "\\csname": r"\csname relax\endcsname",
    "\\expandafter": r"\expandafter\a\b",
    "a huge \\rule": r"\rule{100000pt}{100000pt}",
    "a \\rule raised a mile": r"\rule[" + MILE_IN_MM + "]{1pt}{1pt}",
    "\\hspace of a mile": r"x \hspace{" + MILE_IN_MM + "} y",
    "\\hspace*": r"x \hspace*{20000pt} y",
    "\\vspace": r"x \vspace{5in} y",
    "\\kern": r"x \kern 100000pt y",
    "\\mkern": r"x \mkern100000mu y",
    "\\mspace": r"x \mspace{100000mu} y",
    "a size that is a macro": r"x \hspace{\textwidth} y",
    "row spacing of a mile": r"\begin{aligned} a \\[" + MILE_IN_MM + r"] b \end{aligned}",
    "\\raisebox": r"\raisebox{10000pt}{x}",
    "too many rows": r"\begin{matrix}" + r"a \\ " * 200 + r"\end{matrix}",
    "too many cells": r"\begin{matrix}" + "a & " * 500 + r"a \end{matrix}",
    "too many commands": r"\alpha" * 700,
    "unbalanced braces": r"\frac{a}{b",
    "a stray closing brace": r"a}{b",
    "an unclosed environment": r"\begin{cases} a",
    "\\right without \\left": r"a \right)",
    "\\href": r"\href{javascript:alert(1)}{x}",
    "\\includegraphics": r"\includegraphics{/etc/passwd}",
}


@pytest.mark.parametrize("source", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_formulas_are_refused_before_any_typesetting(source: str) -> None:
    assert isinstance(prepare_formula(source), Refusal)


def test_length_is_checked_first() -> None:
    refusal = prepare_formula("{" * (MAX_SOURCE_CHARS + 1))
    assert isinstance(refusal, Refusal) and "longer than" in refusal.reason


@pytest.mark.parametrize(
    "source",
    [
        r"x \hspace{1em} y",
        r"x \hspace{2.5mm} y",
        r"x \kern3pt y",
        r"x \mkern18mu y",
        r"\rule{1em}{0.4pt}",
        r"\begin{aligned} a &= b \\[2pt] &= c \end{aligned}",
    ],
)
def test_reasonable_sizes_pass(source: str) -> None:
    assert not isinstance(prepare_formula(source), Refusal)


def test_every_corpus_formula_passes() -> None:
    refused = {f.origin: prepare_formula(f.tex) for f in CORPUS}
    assert not {origin: r for origin, r in refused.items() if isinstance(r, Refusal)}


@pytest.mark.parametrize(
    ("source", "prepared"),
    [
        (r"E = mc^2 \label{eq:energy}", "E = mc^2"),
        (r"E = mc^2 \tag{3}", "E = mc^2"),
        (r"a = b \nonumber", "a = b"),
        (r"\begin{equation} E = mc^2 \end{equation}", "E = mc^2"),
        (r"\begin{equation*}x\end{equation*}", "x"),
        (
            r"\begin{align} a &= b \\ c &= d \end{align}",
            r"\begin{aligned} a &= b \\ c &= d \end{aligned}",
        ),
        (r"\begin{align*}a&=b\end{align*}", r"\begin{aligned}a&=b\end{aligned}"),
        (r"\begin{alignat}{2}a&=b\end{alignat}", r"\begin{aligned}a&=b\end{aligned}"),
        (r"\begin{gather} a \\ b \end{gather}", r"\begin{gathered} a \\ b \end{gathered}"),
        (r"\begin{eqnarray}a&=&b\end{eqnarray}", r"\begin{array}{rcl}a&=&b\end{array}"),
        (r"\begin{pmatrix}a\end{pmatrix}", r"\begin{pmatrix}a\end{pmatrix}"),
    ],
)
def test_numbering_and_environments_are_normalised(source: str, prepared: str) -> None:
    assert prepare_formula(source) == prepared
