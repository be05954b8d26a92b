"""Ranking properties over a small corpus written by hand, with expected orders written by
hand: field weights, all words required, phrases, votes, filters, visibility, deleted
summaries, diacritics and typos."""

from __future__ import annotations

import math
from typing import Any

import pytest
import tantivy

from bot.search import SearchPage, parse_query
from bot.search.engine import Visibility, page_to_json, visibility_clauses
from bot.search.query import phrase_query, text_query
from bot.search.schema import SUMMARY_LEAD, TEXT_FIELDS, rank_boost, vote_boost, vote_weight
from tests.unit.search.conftest import Searchable, add_summary, paper_of

GUILD_A = 111
GUILD_B = 222


@pytest.fixture
async def corpus(searchable: Searchable) -> dict[str, int]:
    db = searchable.db
    ids: dict[str, int] = {}
    ids["transformer"] = await add_summary(
        db, title="Attention Is All You Need", tldr="A transformer built only from attention",
        body="We replace recurrence with self-attention layers in an encoder and a decoder.",
        authors="Ashish Vaswani, Noam Shazeer", year=2017, venue="NeurIPS",
    )  # fmt: skip
    ids["alignment"] = await add_summary(
        db, title="Neural Machine Translation by Jointly Learning to Align and Translate",
        tldr="Soft alignment for translation",
        body="An attention mechanism lets the decoder look back at the source sentence.",
        authors="Dzmitry Bahdanau, Kyunghyun Cho", year=2015, venue="ICLR",
    )  # fmt: skip
    ids["batchnorm"] = await add_summary(
        db, title="Batch Normalization", tldr="Normalize layer inputs per mini-batch",
        body="Reduces internal covariate shift, and speeds up training a lot.",
        authors="Sergey Ioffe, Christian Szegedy", year=2015, venue="ICML",
    )  # fmt: skip
    ids["layernorm"] = await add_summary(
        db, title="Layer Normalization", tldr="Normalize across the features of a layer",
        body="Works for recurrent networks, where batch statistics do not.",
        authors="Jimmy Ba, Geoffrey Hinton", year=2016, venue="arXiv",
    )  # fmt: skip
    ids["adam"] = await add_summary(
        db, title="Adam: A Method for Stochastic Optimization", tldr="Adaptive moments",
        body="Running averages of the gradient and its square scale each step.",
        authors="Diederik Kingma, Jimmy Ba", year=2015, venue="ICLR", score=10,
    )  # fmt: skip
    ids["bayes"] = await add_summary(
        db, title="Naïve Bayes Revisited", body="A café of simple classifiers, résumé included."
    )
    ids["ours_a"] = await add_summary(
        db, title="Attention Is All You Need", body="Our group's notes on multi head attention.",
        origin="community", guild_id=GUILD_A, author="bob",
    )  # fmt: skip
    ids["secret_b"] = await add_summary(
        db, title="Batch Normalization", body="Secret zanzibar notes on normalization.",
        origin="community", guild_id=GUILD_B, author="carol",
    )  # fmt: skip
    ids["deleted"] = await add_summary(
        db, title="Deleted Paper About Attention", body="attention attention attention",
        deleted=True,
    )  # fmt: skip
    return ids


async def ranked(searchable: Searchable, query: str, **options: Any) -> list[int]:
    options.setdefault("guild_id", None)
    page: SearchPage = await searchable.search.search(query, limit=50, **options)
    return [result.summary_id for result in page.results]


async def test_field_weights_title_then_tldr_then_authors_then_body(searchable: Searchable) -> None:
    db = searchable.db
    # Every field of every summary has its usual length, so only the weights differ.
    filler = "words that are here only to give every field a usual length"
    fields: dict[str, Any] = {"tldr": "a short tldr", "authors": "Ada Lovelace"}
    in_body = await add_summary(db, title="One Paper", body=f"pivotal {filler}", **fields)
    in_authors = await add_summary(
        db, title="Two Paper", body=filler, tldr="a short tldr", authors="Ada Pivotal"
    )
    in_tldr = await add_summary(
        db, title="Three Paper", body=filler, tldr="a pivotal tldr", authors="Ada Lovelace"
    )
    in_title = await add_summary(db, title="Pivotal Paper", body=filler, **fields)
    assert await ranked(searchable, "pivotal") == [in_title, in_tldr, in_authors, in_body]


async def test_expected_orders(searchable: Searchable, corpus: dict[str, int]) -> None:
    c = corpus
    # In the title, the TL;DR and the body beats the body alone; the deleted one never shows;
    # another server's summaries never show.
    feeds = await ranked(searchable, "attention")
    assert feeds[0] == c["transformer"]
    assert set(feeds) == {c["transformer"], c["alignment"]}
    # Server A also sees its own summary: title and body, ranked after title, TL;DR and body.
    assert await ranked(searchable, "attention", guild_id=GUILD_A) == [
        c["transformer"], c["ours_a"], c["alignment"],
    ]  # fmt: skip
    # Every plain word is required.
    assert await ranked(searchable, "attention translation") == [c["alignment"]]
    assert await ranked(searchable, "attention zzzz") == []
    # Quoted phrases match by position, bare words anywhere.
    assert await ranked(searchable, '"layer inputs"') == [c["batchnorm"]]
    assert await ranked(searchable, '"inputs layer"') == []
    assert await ranked(searchable, "inputs layer") == [c["batchnorm"]]
    # Two titles match alike ("X Normalization"): equal scores, so the newer comes first.
    assert await ranked(searchable, "normalization") == [c["layernorm"], c["batchnorm"]]


async def test_votes_are_a_small_boost(searchable: Searchable) -> None:
    db = searchable.db
    low = await add_summary(db, title="Twin", body="twin words", score=1, created_at=5)
    high = await add_summary(db, title="Twin", body="twin words", score=9, created_at=1)
    newer = await add_summary(db, title="Twin", body="twin words", score=1, created_at=9)
    # Same text: more votes first, then newer.
    assert await ranked(searchable, "twin words") == [high, newer, low]
    # Text relevance leads: a title match without votes beats a body match with many.
    popular = await add_summary(db, title="Other", body="quokka " + "filler " * 20, score=500)
    in_title = await add_summary(db, title="Quokka", body="filler " * 20)
    assert await ranked(searchable, "quokka") == [in_title, popular]
    assert vote_boost(0) == 1.0 and 1.0 < vote_boost(10) < vote_boost(500) <= 2.0
    assert 0.5 <= vote_boost(-50) < 1.0


async def test_vote_weight_gives_the_boost_as_tantivy_applies_it(searchable: Searchable) -> None:
    """tantivy multiplies by log2(2 + weight): pinned here, since the boost relies on it."""
    import math

    for score in (-100, -3, 0, 1, 7, 1000):
        assert math.isclose(math.log2(2 + vote_weight(score)), rank_boost(score))
        assert math.isclose(rank_boost(score), SUMMARY_LEAD * vote_boost(score))
    db = searchable.db
    plain = await add_summary(db, title="Wombat", body="x", score=0)
    boosted = await add_summary(db, title="Wombat", body="x", score=20)
    # tantivy counts a negative weight as 0, so a down-vote needs the summaries' lead to show.
    lowered = await add_summary(db, title="Wombat", body="x", score=-20, created_at=2_000_000_000)
    page = await searchable.search.search("wombat", guild_id=None)
    by_id = {result.summary_id: result.rank for result in page.results}
    assert math.isclose(by_id[boosted] / by_id[plain], vote_boost(20), rel_tol=1e-5)
    assert math.isclose(by_id[lowered] / by_id[plain], vote_boost(-20), rel_tol=1e-5)


async def test_an_abstract_ranks_below_a_summary_of_its_paper_and_says_what_it_is(
    searchable: Searchable,
) -> None:
    """Issue 9: an arXiv entry matches a search about its paper as well as a summary does
    (the same title, the same words); readers came for summaries, so the summary leads, and
    the abstract is labelled as such."""
    db = searchable.db
    abstract = await add_summary(
        db, title="Sparse Mixtures of Experts", author="Alice Smith, Bob Jones",
        body="Sparse mixtures of experts with learned routing scale gracefully.",
        kind="abstract",
    )  # fmt: skip
    paper = await paper_of(db, abstract)
    summary = await add_summary(
        db, title="Sparse Mixtures of Experts", paper_id=paper,
        body="Why routing in sparse mixtures of experts matters, in short.",
    )  # fmt: skip
    assert await ranked(searchable, "sparse mixtures experts") == [summary, abstract]
    assert await ranked(searchable, "routing") == [summary, abstract]
    page = await searchable.search.search("sparse", guild_id=None)
    assert {r.summary_id: r.kind for r in page.results} == {
        summary: "summary", abstract: "abstract",
    }  # fmt: skip
    assert [item["kind"] for item in page_to_json(page)["results"]] == ["summary", "abstract"]
    assert math.isclose(math.log2(2 + vote_weight(0, "abstract")), 1.0)
    # A change of kind is a change for search: it moves at once.
    async with db.transaction() as conn:
        await conn.execute("UPDATE summaries SET kind = 'summary' WHERE id = ?", (abstract,))
    page = await searchable.search.search("sparse", guild_id=None)
    assert {r.kind for r in page.results} == {"summary"}


async def test_filters_inside_the_query(searchable: Searchable, corpus: dict[str, int]) -> None:
    c = corpus
    # Paper authors, by word, the last one may be unfinished; summary authors too.
    assert await ranked(searchable, "normalization", author="hinton") == [c["layernorm"]]
    assert await ranked(searchable, "normalize OR adaptive", author="Jimmy Ba") == []
    assert set(await ranked(searchable, "a", author="jimmy ba")) == {c["layernorm"], c["adam"]}
    assert await ranked(searchable, "attention", author="Vasw") == [c["transformer"]]
    assert await ranked(searchable, "attention", author="bob", guild_id=GUILD_A) == [c["ours_a"]]
    assert await ranked(searchable, "attention", author="%") == []  # no words: nothing
    assert set(await ranked(searchable, "a", year=2015)) == {c["batchnorm"], c["adam"]}
    assert await ranked(searchable, "attention", year=2015) == [c["alignment"]]
    assert await ranked(searchable, "decoder", venue="icl") == [c["alignment"]]
    assert await ranked(searchable, "normalize", venue="neurips") == []


async def test_a_lone_phrase_beside_exclusions_scores_as_when_nested(
    searchable: Searchable, corpus: dict[str, int]
) -> None:
    """`text_query` gives a lone phrase beside exclusions only as its fields' own clauses
    (faster to score): the hits and scores must be those of the phrase nested as one
    required clause."""
    search = searchable.search
    index = search._ready_index()
    for text in ("attention", "normalization", '"attention is all"', "a"):
        parsed = parse_query(text)
        assert parsed is not None
        clauses = visibility_clauses(index.schema, Visibility(guild_id=GUILD_A))
        assert clauses and all(occur == tantivy.Occur.MustNot for occur, _ in clauses)
        nested = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, phrase_query(index.schema, parsed.phrases[0], TEXT_FIELDS)),
             *clauses]
        )  # fmt: skip
        flat = text_query(index.schema, parsed, clauses)
        assert str(flat) != str(nested)
        searcher = index.searcher()
        expected = searcher.search(nested, 50, weight_by_field="vote_weight").hits
        found = searcher.search(flat, 50, weight_by_field="vote_weight").hits
        assert found and len(found) == len(expected)
        for (score, address), (expected_score, expected_address) in zip(
            found, expected, strict=True
        ):
            assert address == expected_address and math.isclose(score, expected_score)
    # Another server's community summary stays excluded in the flat form.
    found_ids = await ranked(searchable, "normalization", guild_id=GUILD_A)
    assert corpus["batchnorm"] in found_ids and corpus["secret_b"] not in found_ids


async def test_a_filtered_page_is_never_short(searchable: Searchable) -> None:
    """Filters are part of the query: the first page is full whenever enough match."""
    db = searchable.db
    for index in range(30):
        await add_summary(db, title=f"Common {index}", body="shared topic " * (1 + index % 5))
    for index in range(6):
        await add_summary(db, title=f"Rare {index}", body="shared topic", year=1999)
    page = await searchable.search.search("shared topic", guild_id=None, year=1999, limit=5)
    assert len(page.results) == 5 and page.has_more
    second = await searchable.search.search(
        "shared topic", guild_id=None, year=1999, limit=5, offset=5
    )
    assert len(second.results) == 1 and not second.has_more


async def test_visibility(searchable: Searchable, corpus: dict[str, int]) -> None:
    c = corpus
    assert await ranked(searchable, "zanzibar", guild_id=GUILD_B) == [c["secret_b"]]
    assert await ranked(searchable, "zanzibar", guild_id=GUILD_A) == []
    assert await ranked(searchable, "zanzibar") == []  # a DM: feed summaries only
    assert await ranked(searchable, "zanzibar", all_guilds=True) == [c["secret_b"]]
    assert await ranked(searchable, "attention", guild_id=GUILD_A, origin="community") == [
        c["ours_a"]
    ]
    assert await ranked(searchable, "attention", guild_id=None, origin="community") == []
    assert c["ours_a"] not in await ranked(
        searchable, "attention", origin="feeds", guild_id=GUILD_A
    )
    with pytest.raises(ValueError):
        await searchable.search.search("attention", guild_id=1, origin="nonsense")


async def test_deleted_summaries_are_never_shown(
    searchable: Searchable, corpus: dict[str, int]
) -> None:
    c = corpus
    assert c["deleted"] not in await ranked(searchable, "attention", all_guilds=True)
    async with searchable.db.transaction() as conn:
        await conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id = ?", (c["transformer"],))
    # The commit waited for the index: gone from the very next search.
    assert await ranked(searchable, "attention") == [c["alignment"]]
    async with searchable.db.transaction() as conn:
        await conn.execute(
            "UPDATE summaries SET deleted_at = NULL WHERE id = ?", (c["transformer"],)
        )
    assert (await ranked(searchable, "attention"))[0] == c["transformer"]


async def test_diacritics_do_not_matter(searchable: Searchable, corpus: dict[str, int]) -> None:
    assert await ranked(searchable, "naive cafe") == [corpus["bayes"]]
    assert await ranked(searchable, "NAÏVE résumé") == [corpus["bayes"]]
    page = await searchable.search.search("naive", guild_id=None)
    assert "**Naïve**" in page.results[0].excerpt or "Naïve" in page.results[0].paper_title


async def test_typos_are_corrected_and_said(searchable: Searchable, corpus: dict[str, int]) -> None:
    c = corpus
    page = await searchable.search.search("normalizaton", guild_id=None)
    assert page.corrected == "normalization"
    assert [r.summary_id for r in page.results] == [c["layernorm"], c["batchnorm"]]
    page = await searchable.search.search("atention translation", guild_id=None)
    assert page.corrected == "attention translation"
    assert [r.summary_id for r in page.results] == [c["alignment"]]
    # Two edits from 9 letters: "covarinace" -> "covariate"? No: one word, nine letters,
    # two transpositions away is still two edits.
    page = await searchable.search.search("covairaet", guild_id=None)
    assert page.corrected == "covariate" and [r.summary_id for r in page.results] == [
        c["batchnorm"]
    ]
    # Short words are not corrected (too many near words); three edits are too many.
    assert (await searchable.search.search("adma", guild_id=None)).results == ()
    assert (await searchable.search.search("normalizashun", guild_id=None)).results == ()
    # Corrections only come from what the viewer may see.
    assert (await searchable.search.search("zanzibr", guild_id=GUILD_A)).results == ()
    page = await searchable.search.search("zanzibr", guild_id=GUILD_B)
    assert page.corrected == "zanzibar" and page.results[0].summary_id == c["secret_b"]
    # A word only another server's summaries have is corrected as if unknown.
    await add_summary(
        searchable.db, title="Elsewhere", body="British normalisation",
        origin="community", guild_id=GUILD_B,
    )  # fmt: skip
    page = await searchable.search.search("normalisation", guild_id=GUILD_A)
    assert page.corrected == "normalization" and page.results
    # A query that matches as typed is never "corrected".
    assert (await searchable.search.search("normalization", guild_id=None)).corrected is None


async def test_paging_walks_the_whole_ranking_once(searchable: Searchable) -> None:
    db = searchable.db
    for index in range(23):
        # Many exact ties: paging must still be stable.
        await add_summary(db, title=f"Paper {index}", body="paging test", score=index % 3)
    walked: list[int] = []
    offset = 0
    while True:
        page = await searchable.search.search("paging", guild_id=None, offset=offset, limit=5)
        walked.extend(result.summary_id for result in page.results)
        if not page.has_more:
            break
        offset += 5
    assert len(walked) == 23 == len(set(walked))
    assert walked == await ranked(searchable, "paging")
