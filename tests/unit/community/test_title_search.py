"""What a typed title may mean: the picker's options (Discord's limits, order, the new paper
last), option values, its text, and ranking known titles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.community.arxiv import ArxivPaper
from bot.community.reading import READING_WORDING
from bot.community.title_search import (
    MAX_OPTIONS,
    OPTION_TEXT,
    TitleCandidates,
    first_authors,
    paper_options,
    parse_option,
    question_text,
    rank_by_title,
)
from bot.search import TitleSuggestion
from bot.storage.papers import Paper

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def known(paper_id: int, title: str, *, arxiv_id: str | None = None, authors: str = "") -> Paper:
    return Paper(
        id=paper_id, canonical_key=f"k{paper_id}", arxiv_id=arxiv_id, doi=None, bibtex_key=None,
        title=title, authors=authors, venue=None, year=2015 if arxiv_id else None,
        abstract=None, url=None, pdf_url=None, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def on_arxiv(arxiv_id: str, title: str, *authors: str) -> ArxivPaper:
    return ArxivPaper(
        arxiv_id=arxiv_id, version=1, title=title, authors=authors, abstract="",
        published=datetime(2018, 3, 22, tzinfo=UTC),
    )  # fmt: skip


def test_first_authors() -> None:
    assert first_authors([]) == "" and first_authors(["A B"]) == "A B"
    assert first_authors(["Yuxin Wu", "Kaiming He"]) == "Yuxin Wu and Kaiming He"
    assert first_authors(["A", "B", "C"]) == "A, B et al."


def test_options_known_then_arxiv_then_a_new_paper() -> None:
    candidates = TitleCandidates(
        "normalization",
        known=(
            known(3, "Normalization Zoo"),
            known(1, "Batch Normalization", arxiv_id="1502.03167", authors="S. Ioffe, C. Szegedy"),
        ),
        found=(
            on_arxiv("1502.03167", "Batch Normalization"),  # already known: listed once
            on_arxiv("1803.08494", "Group Normalization", "Yuxin Wu", "Kaiming He", "X"),
        ),
    )
    options = paper_options(candidates)
    assert [(o.kind, o.value) for o in options] == [
        ("known", "known:3"), ("known", "known:1"), ("arxiv", "arxiv:1803.08494"), ("new", "new"),
    ]  # fmt: skip
    assert options[0].description == "Known here"
    assert (
        options[1].description == "Known here · S. Ioffe and C. Szegedy · 2015 · arXiv:1502.03167"
    )
    assert options[2].description == "arXiv:1803.08494 · Yuxin Wu, Kaiming He et al. · 2018"
    assert options[3].label == "A new paper titled “normalization”"


def test_options_keep_within_discords_limits() -> None:
    long_title = "A " + "very " * 80 + "long title"
    candidates = TitleCandidates(
        long_title,
        known=tuple(known(i, f"{long_title} {i}", authors="X " * 80) for i in range(1, 20)),
        found=tuple(on_arxiv(f"2101.{i:05d}", long_title, "Y " * 80) for i in range(1, 20)),
    )
    options = paper_options(candidates)
    assert len(options) <= MAX_OPTIONS and options[-1].value == "new"
    assert [o.kind for o in options].count("known") == 10
    assert [o.kind for o in options].count("arxiv") == 10
    assert len({o.value for o in options}) == len(options)
    for option in options:
        assert 1 <= len(option.label) <= OPTION_TEXT and len(option.value) <= OPTION_TEXT
        assert len(option.description) <= OPTION_TEXT
    assert options[-1].label.startswith("A new paper titled “A very") and options[
        -1
    ].label.endswith("…”")


def test_option_values_parse_back() -> None:
    assert parse_option("new") == ("new", "")
    assert parse_option("known:12") == ("known", "12")
    assert parse_option("arxiv:hep-th/9901001") == ("arxiv", "hep-th/9901001")
    for bad in ("", "known:", "known:x1", "arxiv:", "other:1"):
        with pytest.raises(ValueError):
            parse_option(bad)


def test_the_question_says_what_was_found_and_what_failed() -> None:
    both = question_text(
        TitleCandidates(
            "Group Norm @everyone *bold*",
            known=(known(1, "Group Norms"),),
            found=(on_arxiv("1803.08494", "Group Normalization"),),
        )
    )
    assert "Which paper is **“Group Norm @\u200beveryone \\*bold\\*”**?" in both
    assert "Closest first: 📚 1 paper known here · 📄 1 paper on arXiv" in both
    assert "nothing is saved before you publish" in both and "⚠️" not in both
    nothing = question_text(TitleCandidates("Snacks"))
    assert "Neither this server nor arXiv knows a paper with that title" in nothing
    down = question_text(TitleCandidates("Snacks", arxiv_problem="arXiv answered HTTP 503"))
    assert "⚠️ arXiv could not be searched just now (arXiv answered HTTP 503)" in down
    assert "Nothing known here is like it" in down and "Neither" not in down


def test_the_reading_picker_speaks_of_the_session_not_of_publishing() -> None:
    down = TitleCandidates("Snacks", arxiv_problem="arXiv answered HTTP 503")
    text = question_text(down, READING_WORDING)
    assert "run `/reading start` again with its arXiv id or link" in text
    assert "The session starts once its paper is picked, by whoever ran the command" in text
    assert "publish" not in text and "Edit" not in text
    [new] = paper_options(down, READING_WORDING)
    assert new.value == "new" and new.description.endswith("when the session starts")
    assert "Check its spelling and run `/reading start` again" in question_text(
        TitleCandidates("Snacks"), READING_WORDING
    )


def test_known_titles_are_ranked_by_closeness_without_repeats() -> None:
    pool = [
        TitleSuggestion(1, "Batch Normalization: Accelerating Deep Network Training"),
        TitleSuggestion(2, "Normalization Zoo"),
        TitleSuggestion(1, "Batch Normalization: Accelerating Deep Network Training"),
        TitleSuggestion(3, "Attention Is All You Need"),
    ]
    assert [s.paper_id for s in rank_by_title("normalization", pool)] == [2, 1]
