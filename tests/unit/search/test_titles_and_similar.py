"""Title autocomplete and similar papers: from the index, only what the viewer may see."""

from __future__ import annotations

from bot.search import SearchService
from bot.search.engine import SIMILAR_CANDIDATES
from tests.unit.search.conftest import Searchable, add_summary, paper_of


async def titles(search: SearchService, prefix: str, **options: object) -> list[str]:
    return [s.title for s in await search.autocomplete(prefix, **options)]  # type: ignore[arg-type]


async def test_titles_by_prefix_then_by_word(searchable: Searchable) -> None:
    db, search = searchable.db, searchable.search
    await add_summary(db, title="Batch Normalization: Accelerating Deep Network Training", body="x")
    await add_summary(db, title="Layer Normalization", body="x")
    await add_summary(db, title="Batch Size Matters", body="x")
    await add_summary(db, title="Batch Secrets", body="x", origin="community", guild_id=2)
    assert await titles(search, "batch", guild_id=1) == [
        "Batch Normalization: Accelerating Deep Network Training",
        "Batch Size Matters",
    ]
    assert await titles(search, "BATCH  no", guild_id=1) == [
        "Batch Normalization: Accelerating Deep Network Training"
    ]
    # A word of the title starting with what was typed.
    assert set(await titles(search, "norm", guild_id=1)) == {
        "Batch Normalization: Accelerating Deep Network Training",
        "Layer Normalization",
    }
    assert await titles(search, "deep trai", guild_id=1) == [
        "Batch Normalization: Accelerating Deep Network Training"
    ]
    assert "Batch Secrets" in await titles(search, "bat", guild_id=2)
    assert len(await titles(search, "", guild_id=1)) == 3
    for hostile in ('"*(', "title:", "(.*)", "[a-z]+", "\\x{41}", ".*", "b.*"):
        assert await titles(search, hostile, guild_id=1) == []
    for blank in ("\x00", "\ud800", "\u200b"):  # nothing left to type: recent papers
        assert len(await titles(search, blank, guild_id=1)) == 3
    for index in range(30):
        await add_summary(db, title=f"Batch {index:02d}", body="x")
    assert len(await titles(search, "BATCH", guild_id=None)) == 25


async def test_titles_follow_paper_visibility(searchable: Searchable) -> None:
    """A paper known only from one server (its community summaries or a reading session)
    is suggested only there; a feed summary makes it public."""
    db, search = searchable.db, searchable.search
    summary = await add_summary(
        db, title="Zeta Confidential Memo", body="x", origin="community", guild_id=5
    )
    paper = await paper_of(db, summary)
    assert await titles(search, "zeta", guild_id=5) == ["Zeta Confidential Memo"]
    assert await titles(search, "zeta", guild_id=6) == []
    assert await titles(search, "zeta") == []
    # A reading session in server 6 makes it visible there too.
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO reading_sessions (guild_id, paper_id, channel_id, thread_id, "
            "started_by, started_at) VALUES (6, ?, 1, 2, 3, 0)",
            (paper,),
        )
    assert await titles(search, "zeta", guild_id=6) == ["Zeta Confidential Memo"]
    # Its only summary deleted: server 5 no longer sees it (server 6 keeps its session).
    async with db.transaction() as conn:
        await conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id = ?", (summary,))
    assert await titles(search, "zeta", guild_id=5) == []
    assert await titles(search, "zeta", guild_id=6) == ["Zeta Confidential Memo"]
    # A summary from a feed: everyone.
    await add_summary(db, title="", body="public now", paper_id=paper)
    assert await titles(search, "zeta", guild_id=9) == ["Zeta Confidential Memo"]
    # A title edited: suggested by its new title only.
    async with db.transaction() as conn:
        await conn.execute("UPDATE papers SET title = 'Omega Memo' WHERE id = ?", (paper,))
    assert await titles(search, "zeta", guild_id=9) == []
    assert await titles(search, "omega", guild_id=9) == ["Omega Memo"]


async def make_topics(searchable: Searchable) -> dict[str, int]:
    db = searchable.db
    papers: dict[str, int] = {}

    async def paper(name: str, title: str, body: str, **options: object) -> None:
        summary = await add_summary(db, title=title, body=body, **options)  # type: ignore[arg-type]
        papers[name] = await paper_of(db, summary)

    await paper(
        "batchnorm", "Batch Normalization",
        "Normalizing activations per mini-batch reduces internal covariate shift; "
        "normalization layers with learned scale and shift speed up training.",
        abstract="We normalize layer inputs using mini-batch statistics.",
    )  # fmt: skip
    await paper(
        "layernorm", "Layer Normalization",
        "Normalization across the features of a layer instead of the mini-batch; "
        "learned scale and shift, no batch statistics, works for recurrent networks.",
    )  # fmt: skip
    await paper(
        "groupnorm", "Group Normalization",
        "Normalization over groups of channels: independent of the mini-batch size, "
        "with learned scale and shift.",
    )  # fmt: skip
    await paper(
        "adam", "Adam",
        "Adaptive moment estimation keeps running averages of gradients and squared "
        "gradients to scale each parameter's learning rate.",
    )  # fmt: skip
    await paper(
        "rmsprop", "RMSProp lecture",
        "Divide the learning rate by a running average of squared gradients for each "
        "parameter.",
    )  # fmt: skip
    await paper(
        "private", "Weight Standardization",
        "Normalization of the weights with scale and shift, combined with group "
        "normalization for mini-batch independence.",
        origin="community", guild_id=77,
    )  # fmt: skip
    await paper("bayes", "Naive Bayes", "Counting words per class with a prior.")
    return papers


async def test_similar_papers(searchable: Searchable) -> None:
    papers = await make_topics(searchable)
    search = searchable.search
    similar = await search.similar(papers["batchnorm"], guild_id=None)
    found = [item.paper_id for item in similar]
    assert papers["batchnorm"] not in found  # never the paper itself
    assert set(found[:2]) == {papers["layernorm"], papers["groupnorm"]}
    assert papers["private"] not in found  # another server's summary
    assert papers["bayes"] not in found and len(found) <= 5
    assert all(item.summaries == 1 and item.title for item in similar)
    # In server 77 its own summary counts.
    in_guild = [item.paper_id for item in await search.similar(papers["batchnorm"], guild_id=77)]
    assert papers["private"] in in_guild
    optimisers = [item.paper_id for item in await search.similar(papers["adam"], guild_id=None)]
    assert optimisers[0] == papers["rmsprop"]


async def test_similar_finds_five_papers_past_one_papers_many_summaries(
    searchable: Searchable,
) -> None:
    db, search = searchable.db, searchable.search
    words = "quokka wombat platypus echidna"
    anchor = await paper_of(db, await add_summary(db, title="Anchor", body=words))
    crowd = await paper_of(db, await add_summary(db, title="Crowd", body=words))
    async with db.transaction() as conn:  # more summaries of one paper than a read holds
        for _ in range(SIMILAR_CANDIDATES + 10):
            await conn.execute(
                "INSERT INTO summaries (paper_id, origin, body) VALUES (?, 'feed', ?)",
                (crowd, words),
            )
    others = [
        await paper_of(
            db, await add_summary(db, title=f"Other {n}", body=f"quokka wombat filler{n} text")
        )
        for n in range(5)
    ]
    found = [item.paper_id for item in await search.similar(anchor, guild_id=None)]
    assert found[0] == crowd and len(found) == 5 and set(found[1:]) < set(others)


async def test_similar_compares_only_what_the_viewer_may_see(searchable: Searchable) -> None:
    papers = await make_topics(searchable)
    db, search = searchable.db, searchable.search
    # Server 77 wrote about Naive Bayes in normalization words: elsewhere that text is unseen.
    await add_summary(
        db, title="", body="normalization scale shift mini-batch covariate layers",
        paper_id=papers["bayes"], origin="community", guild_id=77,
    )  # fmt: skip
    elsewhere = [item.paper_id for item in await search.similar(papers["bayes"], guild_id=None)]
    assert papers["layernorm"] not in elsewhere[:1]
    there = [item.paper_id for item in await search.similar(papers["bayes"], guild_id=77)]
    assert there and there[0] in {papers["batchnorm"], papers["layernorm"], papers["groupnorm"],
                                  papers["private"]}  # fmt: skip
    assert await search.similar(999_999, guild_id=None) == []


async def similar_titles(search: SearchService, title: str, **options: object) -> list[str]:
    return [s.title for s in await search.similar_titles(title, **options)]  # type: ignore[arg-type]


async def test_similar_titles_share_words_typos_included_and_follow_visibility(
    searchable: Searchable,
) -> None:
    """The known papers a typed title may mean (`/summarize`'s picker): titles sharing its
    significant words, in any order, a word with a typo too; only papers the viewer may see."""
    papers = await make_topics(searchable)
    search = searchable.search
    found = await similar_titles(search, "normalization of a group", guild_id=None)
    assert found[0] == "Group Normalization"
    assert set(found) == {"Group Normalization", "Batch Normalization", "Layer Normalization"}
    # A typo (one or two edits in a long word) still finds it; function words alone do not
    # make everything match.
    assert (await similar_titles(search, "Batch Normalisaton", guild_id=None))[0] == (
        "Batch Normalization"
    )
    assert await similar_titles(search, "of the and", guild_id=None) == []
    assert await similar_titles(search, "  ", guild_id=None) == []
    # Server 77's own paper is suggested there only.
    assert "Weight Standardization" in await similar_titles(
        search, "weight standardization", guild_id=77
    )
    assert await similar_titles(search, "weight standardization", guild_id=None) == []
    for hostile in ('"*(', "title:", "(.*)", "[a-z]+", "\\x{41}", "paper_title:adam"):
        await similar_titles(search, hostile, guild_id=None)  # no error, whatever matches
    assert papers["adam"] in [
        s.paper_id for s in await search.similar_titles("adam", guild_id=None, limit=1)
    ]


async def test_a_paper_known_by_its_abstract_alone_is_similar_with_no_summaries(
    searchable: Searchable,
) -> None:
    """An arXiv entry is the paper's abstract, not a summary: the paper is listed among
    similar papers (it is visible), counted with no summaries."""
    papers = await make_topics(searchable)
    arxiv = await add_summary(
        searchable.db, title="Batch Renormalization",
        body="Normalizing activations per mini-batch with learned scale and shift, "
        "reducing the dependence of normalization layers on the mini-batch.",
        kind="abstract",
    )  # fmt: skip
    arxiv_paper = await paper_of(searchable.db, arxiv)
    similar = {
        item.paper_id: item.summaries
        for item in await searchable.search.similar(papers["batchnorm"], guild_id=None)
    }
    assert similar[arxiv_paper] == 0
    assert similar[papers["layernorm"]] == 1
