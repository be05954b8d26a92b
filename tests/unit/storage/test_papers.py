"""PaperRepository: find by any identifier, create, merge identifiers, fill fields, search."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.papers import PaperId
from bot.storage import Database
from bot.storage.papers import Paper, PaperDetails, PaperRepository, bulk_write_cache
from bot.storage.sqlite import BULK_CACHE_KIB, BULK_CHECKPOINT_PAGES, SqliteDatabase
from bot.storage.summaries import SummaryRepository
from tests.databases import DatabaseFactory

ARXIV = PaperId(kind="arxiv", value="1502.03167")
DOI = PaperId(kind="doi", value="10.5555/3045118.3045167")
KEY = PaperId(kind="bibtex", value="journals/corr/IoffeS15")


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> SqliteDatabase:
    database = await Database.open(tmp_path / "papers.sqlite3")
    assert isinstance(database, SqliteDatabase)
    return database


@pytest.fixture
def papers(db: Database) -> PaperRepository:
    return PaperRepository(db)


async def test_create_then_find_by_each_identifier(papers: PaperRepository) -> None:
    paper = await papers.find_or_create(
        [ARXIV, KEY], title="Batch Normalization", authors="Sergey Ioffe, Christian Szegedy",
        year=2015, url="https://arxiv.org/abs/1502.03167",
    )  # fmt: skip
    assert paper.canonical_key == "arxiv:1502.03167"
    assert (paper.arxiv_id, paper.bibtex_key, paper.doi) == ("1502.03167", KEY.value, None)
    assert paper.title == "Batch Normalization" and paper.year == 2015
    assert paper.created_at.tzinfo is not None
    assert await papers.find(ARXIV) == paper
    assert await papers.find(KEY) == paper
    assert await papers.find(DOI) is None
    assert await papers.get(paper.id) == paper
    assert await papers.get(paper.id + 100) is None
    assert paper.ids == [ARXIV, KEY]


async def test_get_many_reads_several_papers_in_one_statement(papers: PaperRepository) -> None:
    first = await papers.find_or_create([ARXIV], title="Batch Normalization")
    second = await papers.find_or_create([DOI], title="Another")
    found = await papers.get_many([second.id, first.id + 100, first.id, second.id])
    assert found == {first.id: first, second.id: second}
    assert await papers.get_many([]) == {}


async def test_canonical_key_prefers_arxiv_then_doi(papers: PaperRepository) -> None:
    by_doi = await papers.find_or_create([KEY, DOI])
    assert by_doi.canonical_key == "doi:10.5555/3045118.3045167"
    only_key = await papers.find_or_create([PaperId(kind="bibtex", value="conf/cvpr/HeZRS16")])
    assert only_key.canonical_key == "bibtex:conf/cvpr/HeZRS16"


async def test_identifiers_found_together_are_merged_onto_one_row(
    papers: PaperRepository, db: Database
) -> None:
    first = await papers.find_or_create([KEY], title="Batch Normalization")
    second = await papers.find_or_create([ARXIV, KEY])
    third = await papers.find_or_create([DOI, ARXIV])
    assert first.id == second.id == third.id
    assert (third.arxiv_id, third.doi, third.bibtex_key) == (ARXIV.value, DOI.value, KEY.value)
    assert third.canonical_key == "bibtex:journals/corr/IoffeS15"  # stable once given
    assert await db.fetchval("SELECT count(*) FROM papers") == 1


async def test_rows_are_never_merged_and_taken_identifiers_stay(
    papers: PaperRepository, db: Database
) -> None:
    by_arxiv = await papers.find_or_create([ARXIV])
    by_key = await papers.find_or_create([KEY])
    both = await papers.find_or_create([ARXIV, KEY])
    assert both.id == by_arxiv.id  # the arXiv match wins
    assert both.bibtex_key is None  # the key belongs to the other row
    assert (await papers.get(by_key.id)).bibtex_key == KEY.value  # type: ignore[union-attr]
    assert await db.fetchval("SELECT count(*) FROM papers") == 2
    found = await papers.find_by_ids([KEY, ARXIV])
    assert [paper.id for paper in found] == [by_key.id, by_arxiv.id]


async def test_empty_fields_are_filled_and_good_data_is_kept(papers: PaperRepository) -> None:
    await papers.find_or_create([ARXIV], title="", authors="")
    filled = await papers.find_or_create(
        [ARXIV], title="Batch Normalization", authors="S. Ioffe", venue="ICML", year=2015,
        abstract="Abstract.", url="https://arxiv.org/abs/1502.03167",
        pdf_url="https://arxiv.org/pdf/1502.03167",
    )  # fmt: skip
    assert filled.title == "Batch Normalization" and filled.venue == "ICML"
    kept = await papers.find_or_create(
        [ARXIV], title="Something Else", authors="Nobody", venue="NeurIPS", year=1999,
        abstract="Other.", url="https://example.org", pdf_url="https://example.org/pdf",
    )  # fmt: skip
    assert (kept.title, kept.authors, kept.venue, kept.year) == (
        "Batch Normalization", "S. Ioffe", "ICML", 2015,
    )  # fmt: skip
    assert (kept.abstract, kept.url) == ("Abstract.", "https://arxiv.org/abs/1502.03167")


async def test_filling_a_title_reindexes_the_papers_summaries(
    papers: PaperRepository, db: Database
) -> None:
    paper = await papers.find_or_create([ARXIV])
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO summaries (paper_id, origin, body, external_id) VALUES (?, 'feed', ?, ?)",
            (paper.id, "text", "x"),
        )
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM search_changes")
    await papers.find_or_create([ARXIV], title="Normalization of batches")
    # The search index re-indexes the paper's summaries for a 'paper_text' change.
    logged = await db.fetchall("SELECT kind, item_id FROM search_changes")
    assert [tuple(row) for row in logged] == [("paper_text", paper.id)]


async def test_resolve_many_in_one_batch(papers: PaperRepository, db: Database) -> None:
    other = PaperId(kind="arxiv", value="1706.03762")
    resolved = await papers.resolve_many(
        [
            PaperDetails(ids=(KEY,), title="Batch Normalization"),
            PaperDetails(ids=(ARXIV, KEY)),  # same paper, learns its arXiv id
            PaperDetails(ids=(other,), title="Attention Is All You Need"),
            PaperDetails(ids=(ARXIV,)),
        ]
    )
    assert resolved.created == 2
    first, second, third, fourth = resolved.paper_ids
    assert first == second == fourth != third
    assert (await papers.get(first)).arxiv_id == ARXIV.value  # type: ignore[union-attr]
    again = await papers.resolve_many([PaperDetails(ids=(other,)), PaperDetails(ids=(KEY,))])
    assert again.created == 0 and again.updated == 0
    assert again.paper_ids == [third, first]
    assert await db.fetchval("SELECT count(*) FROM papers") == 2


async def test_new_papers_keep_every_value_and_nul_characters(
    papers: PaperRepository, db: Database
) -> None:
    """New papers of a batch go in as one statement of JSON rows (row by row when a text
    holds NUL, which SQLite's JSON functions would cut): values come back exactly."""
    other = PaperId(kind="arxiv", value="1706.03762")
    details = [
        PaperDetails(ids=(KEY,), title='Ünïcode "quoted" \\ 𝔼', year=2015, venue=None),
        PaperDetails(ids=(other,), title="", authors="A, B", abstract="x", url="https://u"),
    ]
    nul = PaperDetails(ids=(PaperId(kind="doi", value="10.1/x"),), title="a\x00b", year=1999)
    for batch in (details, [nul]):
        resolved = await papers.resolve_many(batch)
        for paper_id, item in zip(resolved.paper_ids, batch, strict=True):
            paper = await papers.get(paper_id)
            assert paper is not None
            # PostgreSQL's text cannot hold NUL: U+FFFD takes its place there.
            title = item.title if db.engine == "sqlite" else item.title.replace("\x00", "\ufffd")
            assert (paper.title, paper.authors, paper.venue, paper.year, paper.abstract) == (
                title, item.authors, item.venue, item.year, item.abstract,
            )  # fmt: skip
            assert paper.url == item.url


async def test_writes_join_the_callers_transaction(papers: PaperRepository, db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await papers.find_or_create([ARXIV], title="Rolled back", conn=conn)
            raise RuntimeError("abort")
    assert await papers.find(ARXIV) is None


async def test_find_or_create_needs_an_identifier(papers: PaperRepository) -> None:
    with pytest.raises(ValueError, match="at least one identifier"):
        await papers.find_or_create([])


async def add_summary(
    db: Database, paper_id: int, *, guild_id: int | None = None, deleted: bool = False
) -> None:
    """A feed summary of the paper, or with `guild_id` a community summary of that guild."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO summaries (paper_id, origin, guild_id, author_discord_id, deleted_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                paper_id,
                "feed" if guild_id is None else "community",
                guild_id,
                None if guild_id is None else 1,
                1 if deleted else None,
            ),
        )


async def test_the_visibility_rule(papers: PaperRepository, db: Database) -> None:
    """Visible to a server: feed papers, papers of its live community summaries, papers of
    its reading sessions; nothing else (issue 8, item 12)."""

    async def paper(number: int) -> Paper:
        return await papers.find_or_create(
            [PaperId(kind="arxiv", value=f"2001.{number:05d}")], title=f"Paper {number}"
        )

    feed, mine, deleted, read, bare = [await paper(n) for n in range(1, 6)]
    await add_summary(db, feed.id)
    await add_summary(db, mine.id, guild_id=10)
    await add_summary(db, deleted.id, guild_id=10, deleted=True)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO reading_sessions (guild_id, paper_id, channel_id, thread_id, "
            "started_by, started_at, closed_at) VALUES (10, ?, 1, 2, 3, 0, 5)",
            (read.id,),
        )

    async def visible(guild_id: int | None) -> set[int]:
        return {
            p.id
            for p in (feed, mine, deleted, read, bare)
            if await papers.get_visible(p.id, guild_id=guild_id) is not None
        }

    assert await visible(10) == {feed.id, mine.id, read.id}
    assert await visible(20) == {feed.id}
    assert await visible(None) == {feed.id}
    by_ids = await papers.find_visible_by_ids(
        [PaperId(kind="arxiv", value="2001.00002")], guild_id=20
    )
    assert by_ids == []
    assert await papers.find_visible_by_title("paper 2", guild_id=10) == mine
    assert await papers.find_visible_by_title("paper 2", guild_id=20) is None


async def test_update_overwrites_only_given_fields(papers: PaperRepository) -> None:
    paper = await papers.find_or_create([ARXIV], title="Old", authors="A", venue="V", year=2015)
    updated = await papers.update(paper.id, title="New", year=None)
    assert updated is not None
    assert (updated.title, updated.authors, updated.venue, updated.year) == ("New", "A", "V", None)
    assert await papers.update(paper.id + 1, title="Nobody") is None


async def test_bulk_write_cache_is_scoped(sqlite_db: SqliteDatabase) -> None:
    db = sqlite_db
    before = await db.writer_pragma("cache_size")
    async with bulk_write_cache(db):
        assert await db.writer_pragma("cache_size") == -BULK_CACHE_KIB
    assert await db.writer_pragma("cache_size") == before
    await db.writer_pragma("cache_size", -131072)  # already bigger: kept
    async with bulk_write_cache(db):
        assert await db.writer_pragma("cache_size") == -131072
    assert await db.writer_pragma("cache_size") == -131072


async def test_bulk_write_cache_checkpoints_less_then_restores(sqlite_db: SqliteDatabase) -> None:
    db = sqlite_db
    before = await db.writer_pragma("wal_autocheckpoint")
    async with bulk_write_cache(db):
        assert await db.writer_pragma("wal_autocheckpoint") == BULK_CHECKPOINT_PAGES
    assert await db.writer_pragma("wal_autocheckpoint") == before
    await db.writer_pragma("wal_autocheckpoint", 0)  # none at all: kept
    async with bulk_write_cache(db):
        assert await db.writer_pragma("wal_autocheckpoint") == 0
    assert await db.writer_pragma("wal_autocheckpoint") == 0


async def test_bulk_write_cache_restores_after_an_error(sqlite_db: SqliteDatabase) -> None:
    db = sqlite_db
    cache, checkpoint = (
        await db.writer_pragma("cache_size"),
        await db.writer_pragma("wal_autocheckpoint"),
    )
    with pytest.raises(RuntimeError):
        async with bulk_write_cache(db):
            raise RuntimeError("import failed")
    assert await db.writer_pragma("cache_size") == cache
    assert await db.writer_pragma("wal_autocheckpoint") == checkpoint


async def test_fill_missing_fills_only_empty_fields_and_free_identifiers(
    db: Database, papers: PaperRepository
) -> None:
    paper = await papers.find_or_create([ARXIV, KEY], title="Batch Normalization", year=2015)
    other = await papers.find_or_create([PaperId(kind="doi", value="10.1/taken")], title="Other")
    await SummaryRepository(db).upsert_external(
        external_id="s1", body="Normalise per mini-batch.", paper_id=paper.id
    )
    changes_before = await db.fetchval("SELECT count(*) FROM search_changes")
    filled = await papers.fill_missing(
        paper.id,
        PaperDetails(
            ids=(ARXIV, DOI),
            title="A different title",
            authors="Sergey Ioffe, Christian Szegedy",
            venue="ICML",
            year=1999,
            abstract="Training deep networks...",
            published="2015-02-11",
            categories="cs.LG",
        ),
    )
    assert filled is not None
    assert filled.title == "Batch Normalization" and filled.year == 2015  # kept
    assert filled.authors == "Sergey Ioffe, Christian Szegedy"
    assert (filled.venue, filled.abstract) == ("ICML", "Training deep networks...")
    assert (filled.published, filled.categories) == ("2015-02-11", ("cs.LG",))
    assert filled.doi == DOI.value  # a free identifier joins the paper
    # The papers repository's write path: the search index is told the paper's text changed.
    assert await db.fetchval("SELECT count(*) FROM search_changes") > changes_before
    logged = "SELECT count(*) FROM search_changes WHERE kind = 'paper_text' AND item_id = ?"
    assert await db.fetchval(logged, (paper.id,)) >= 1
    # An identifier another paper holds stays there.
    again = await papers.fill_missing(
        other.id, PaperDetails(ids=(PaperId(kind="doi", value="10.1/taken"), ARXIV))
    )
    assert again is not None and again.arxiv_id is None
    assert await papers.fill_missing(10**6, PaperDetails(ids=(ARXIV,))) is None
