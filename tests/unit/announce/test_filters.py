"""Keyword filters: words and quoted phrases, case-insensitive, whole words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.announce.filters import KeywordFilter, describe_terms, parse_terms, select_matching


@pytest.mark.parametrize(
    ("typed", "terms"),
    [
        ("", ()),
        (None, ()),
        ("GAN", ("gan",)),
        ('GAN, "Graph  Neural Network"  diffusion', ("gan", "graph neural network", "diffusion")),
        ("a,b,,c", ("a", "b", "c")),
        ('"unterminated phrase', ("unterminated phrase",)),
        ('"" x x X', ("x",)),
        ("c++ C#", ("c++", "c#")),
        ("＂fullwidth phrase＂，x", ("fullwidth phrase", "x")),
    ],
)
def test_parse_terms(typed: str | None, terms: tuple[str, ...]) -> None:
    assert parse_terms(typed) == terms


def test_describe_terms_quotes_phrases() -> None:
    assert describe_terms(("gan", "graph neural network")) == 'gan "graph neural network"'


@pytest.mark.parametrize(
    ("include", "exclude", "texts", "expected"),
    [
        ("", "", ("anything",), True),
        ("gan", "", ("A new GAN for images",), True),
        ("gan", "", ("Organ transplants",), False),  # whole words only
        ("gan", "", ("GANs",), False),
        ('"neural network"', "", ("Deep Neural\nNetworks and a neural   network",), True),
        ('"neural network"', "", ("network of neural cells",), False),
        ("vision, language", "", ("Language models",), True),  # any include term
        ("", "survey", ("A Survey of Transformers",), False),
        ("transformer", "survey", ("Transformers", "A transformer survey"), False),
        ("transformer", "survey", ("Transformer", None, "alice"), True),
        ("alice", "", ("Title", "Alice Smith", "body"), True),  # the author counts
        ("c++", "", ("Fast C++ code",), True),
        ("ünïcode", "", ("ÜNÏCODE text",), True),
    ],
)
def test_matches(include: str, exclude: str, texts: tuple[str | None, ...], expected: bool) -> None:
    assert KeywordFilter.parse(include, exclude).matches(*texts) is expected


@given(st.text(max_size=200), st.text(max_size=200), st.text(max_size=300))
def test_any_input_is_safe(include: str, exclude: str, text: str) -> None:
    keywords = KeywordFilter.parse(include, exclude)
    assert isinstance(keywords.matches(text), bool)
    # What describe_terms prints parses back to the same terms.
    assert parse_terms(describe_terms(keywords.include)) == keywords.include


@given(
    st.lists(st.tuples(st.text(max_size=40), st.none() | st.text(max_size=40)), max_size=8),
    st.lists(st.tuples(st.text(max_size=20), st.text(max_size=20)), max_size=4),
)
def test_select_matching_agrees_with_matching_one_by_one(
    entries: list[tuple[str, str | None]], filters: list[tuple[str, str]]
) -> None:
    selected = select_matching(entries, filters)
    assert selected == [
        [
            index
            for index, texts in enumerate(entries)
            if KeywordFilter.parse(include, exclude).matches(*texts)
        ]
        for include, exclude in filters
    ]
