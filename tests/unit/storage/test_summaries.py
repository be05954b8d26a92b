"""SummaryRepository: upserts of feed summaries, and the visibility rule on every read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.papers import PaperId
from bot.storage import Database, load_migrations
from bot.storage import dialect as dialect_module
from bot.storage.papers import PaperRepository
from bot.storage.summaries import ExternalSummary, SummaryRepository
from tests.databases import DatabaseFactory

GUILD = 111
OTHER_GUILD = 222
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SS_GUID = "https://www.shortscience.org/paper?bibtexKey=journals/corr/X#alice"


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


@pytest.fixture
def summaries(db: Database) -> SummaryRepository:
    return SummaryRepository(db)


async def community(
    db: Database, *, guild_id: int, paper_id: int | None = None, body: str = "ours",
    created: datetime = T0, score: int = 0, deleted: bool = False,
) -> int:  # fmt: skip
    """A community summary, as the community repository would write it."""
    async with db.transaction() as conn:
        summary_id = await conn.fetchval(
            "INSERT INTO summaries (paper_id, origin, guild_id, author_name, body, score,"
            " created_at, edited_at, deleted_at)"
            " VALUES (?, 'community', ?, 'member', ?, ?, ?, ?, ?) RETURNING id",
            (
                paper_id, guild_id, body, score, int(created.timestamp()),
                int(created.timestamp()), int(created.timestamp()) if deleted else None,
            ),
        )  # fmt: skip
        return int(summary_id)


async def test_insert_then_unchanged_then_edit(summaries: SummaryRepository) -> None:
    first = await summaries.upsert_external(
        external_id="https://ss/paper?bibtexKey=k#u", body="Text $x^*$", title="Paper",
        author_name="u", score=3, created_at=T0, edited_at=T0, url="https://ss/paper?bibtexKey=k#u",
    )  # fmt: skip
    assert first.status == "inserted"
    again = await summaries.upsert_external(
        external_id="https://ss/paper?bibtexKey=k#u", body="Text $x^*$", title="Paper",
        author_name="u", score=3, created_at=T0, edited_at=T0, url="https://ss/paper?bibtexKey=k#u",
    )  # fmt: skip
    assert again.status == "unchanged" and again.summary_id == first.summary_id
    edited = await summaries.upsert_external(
        external_id="https://ss/paper?bibtexKey=k#u", body="New text", title="Paper",
        author_name="u", score=5, created_at=T0, edited_at=T0 + timedelta(days=1),
        url="https://ss/paper?bibtexKey=k#u",
    )  # fmt: skip
    assert edited.status == "updated" and edited.summary_id == first.summary_id
    stored = await summaries.get(first.summary_id, guild_id=None)
    assert stored is not None
    assert (stored.body, stored.score, stored.origin) == ("New text", 5, "feed")
    assert stored.created_at == T0 and stored.edited_at == T0 + timedelta(days=1)
    assert stored.external_id == "https://ss/paper?bibtexKey=k#u"
    assert stored.display_title == "Paper" and stored.paper is None


async def test_an_older_version_changes_nothing(summaries: SummaryRepository) -> None:
    new = await summaries.upsert_external(
        external_id="e", body="newer", edited_at=T0 + timedelta(days=2)
    )
    old = await summaries.upsert_external(external_id="e", body="older", edited_at=T0)
    assert old.status == "unchanged"
    stored = await summaries.get(new.summary_id, guild_id=None)
    assert stored is not None and stored.body == "newer"


async def test_feed_votes_move_the_score_without_losing_member_votes(
    summaries: SummaryRepository, db: Database
) -> None:
    result = await summaries.upsert_external(external_id="e", body="b", score=10, edited_at=T0)
    async with db.transaction() as conn:  # two members vote it up (0005's triggers)
        for voter in (1, 2):
            await conn.execute(
                "INSERT INTO summary_votes (summary_id, voter_id, value, voted_at)"
                " VALUES (?, ?, 1, 0)",
                (result.summary_id, voter),
            )
    votes_only = await summaries.upsert_external(external_id="e", body="b", score=12, edited_at=T0)
    assert votes_only.status == "updated"
    stored = await summaries.get(result.summary_id, guild_id=None)
    assert stored is not None and stored.score == 14
    await summaries.upsert_external(
        external_id="e", body="edited", score=11, edited_at=T0 + timedelta(hours=1)
    )
    stored = await summaries.get(result.summary_id, guild_id=None)
    assert stored is not None and stored.score == 13 and stored.body == "edited"


async def test_vote_and_text_changes_are_logged_for_the_search_index(
    summaries: SummaryRepository, db: Database
) -> None:
    """Votes are a boost in search, so a vote-only change is a search change too."""
    await summaries.upsert_external(external_id="e", body="b", score=1, edited_at=T0)
    before = await db.fetchval("SELECT count(*) FROM search_changes")
    await summaries.upsert_external(external_id="e", body="b", score=2, edited_at=T0)
    assert await db.fetchval("SELECT count(*) FROM search_changes") == before + 1
    await summaries.upsert_external(external_id="e", body="b", score=2, edited_at=T0)
    assert await db.fetchval("SELECT count(*) FROM search_changes") == before + 1
    await summaries.upsert_external(external_id="e", body="c", score=2, edited_at=T0)
    assert await db.fetchval("SELECT count(*) FROM search_changes") == before + 2


async def test_batch_upsert_with_duplicates(summaries: SummaryRepository, db: Database) -> None:
    results = await summaries.upsert_external_many(
        [
            ExternalSummary(external_id="a", body="a1", edited_at=T0),
            ExternalSummary(external_id="b", body="b1", edited_at=T0),
            ExternalSummary(external_id="a", body="a2", edited_at=T0 + timedelta(hours=1)),
        ]
    )
    assert [r.status for r in results] == ["unchanged", "inserted", "inserted"]
    assert results[0].summary_id == results[2].summary_id
    stored = await summaries.get(results[0].summary_id, guild_id=None)
    assert stored is not None and stored.body == "a2"
    assert await db.fetchval("SELECT count(*) FROM summaries") == 2
    assert await summaries.upsert_external_many([]) == []


async def test_batch_insert_keeps_values_ids_and_order_exactly(
    summaries: SummaryRepository, db: Database
) -> None:
    """A batch is inserted in one statement (its rows as JSON): every value must come back
    as it went in, of the same type, with ids in input order."""
    paper = await PaperRepository(db).find_or_create([PaperId(kind="arxiv", value="1502.03167")])
    texts = ["plain", 'ünïcödé \u2028 𝔼[x] "quoted" \\ back\\slash', "", "line\nbreak\ttab"]
    batch = [
        ExternalSummary(
            external_id=f"id-{index}", body=text, title=text, author_name=f"a{index}",
            paper_id=paper.id if index % 2 else None, url=None if index % 2 else f"https://u/{index}",
            score=index * 1000, created_at=T0 + timedelta(days=index), edited_at=None,
        )
        for index, text in enumerate(texts)
    ]  # fmt: skip
    results = await summaries.upsert_external_many(batch)
    assert [r.status for r in results] == ["inserted"] * len(texts)
    assert [r.summary_id for r in results] == sorted(r.summary_id for r in results)
    rows = await db.fetchall(
        "SELECT external_id, body, title, author_name, paper_id, url, score, feed_votes,"
        " created_at, edited_at FROM summaries ORDER BY id"
    )
    for row, summary in zip(rows, batch, strict=True):
        created = int(summary.created_at.timestamp())  # type: ignore[union-attr]
        assert tuple(row) == (
            summary.external_id, summary.body, summary.title, summary.author_name,
            summary.paper_id, summary.url, summary.score, summary.score, created, created,
        )  # fmt: skip
        assert type(row[6]) is int and type(row[8]) is int
        assert row[4] is None or type(row[4]) is int


async def test_nul_characters_are_stored_whole(summaries: SummaryRepository, db: Database) -> None:
    """SQLite binds each value (no JSON, whose functions cut text at NUL there), inserts and
    edits alike. PostgreSQL's text cannot hold NUL at all: such batches are bound value by
    value instead of as JSON, the NUL becomes U+FFFD, and the rest of the text is kept."""
    nul = "\x00" if db.engine == "sqlite" else "\ufffd"
    first = await summaries.upsert_external_many(
        [
            ExternalSummary(external_id="n", body="before\x00after", edited_at=T0),
            ExternalSummary(external_id="m", body="fine", edited_at=T0),
        ]
    )
    assert [r.status for r in first] == ["inserted", "inserted"]
    assert await db.fetchval("SELECT body FROM summaries WHERE external_id = 'n'") == (
        f"before{nul}after"
    )
    edited = await summaries.upsert_external_many(
        [
            ExternalSummary(external_id="n", body="again\x00x", edited_at=T0 + timedelta(1)),
            ExternalSummary(external_id="m", body="fine too", edited_at=T0 + timedelta(1)),
        ]
    )
    assert [r.status for r in edited] == ["updated", "updated"]
    bodies = await db.fetchall("SELECT body FROM summaries ORDER BY id")
    assert [row[0] for row in bodies] == [f"again{nul}x", "fine too"]


async def test_a_batch_over_the_bound_parameter_limit_is_written_in_several_statements(
    summaries: SummaryRepository, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 13 parameters a row (12 columns and the position): three rows a statement.
    monkeypatch.setattr(dialect_module, "MAX_BOUND_PARAMETERS", 40)
    batch = [
        ExternalSummary(external_id=f"c{i}", body=f"body {i}", score=i, edited_at=T0)
        for i in range(8)
    ]
    results = await summaries.upsert_external_many(batch)
    assert [r.status for r in results] == ["inserted"] * 8
    rows = await db.fetchall("SELECT id, external_id, body, score FROM summaries ORDER BY id")
    # Ids in input order, each result naming its own row.
    assert [tuple(row)[1:] for row in rows] == [(f"c{i}", f"body {i}", i) for i in range(8)]
    assert [r.summary_id for r in results] == [row[0] for row in rows]
    edited = await summaries.upsert_external_many(
        [
            ExternalSummary(external_id=f"c{i}", body=f"edited {i}", edited_at=T0 + timedelta(1))
            for i in range(8)
        ]
    )
    assert [r.status for r in edited] == ["updated"] * 8
    bodies = await db.fetchall("SELECT body FROM summaries ORDER BY id")
    assert [row[0] for row in bodies] == [f"edited {i}" for i in range(8)]


async def test_batch_edits_update_text_votes_and_the_index(
    summaries: SummaryRepository, db: Database
) -> None:
    await summaries.upsert_external_many(
        [ExternalSummary(external_id=f"e{i}", body=f"alpha{i}", edited_at=T0) for i in range(4)]
    )
    later = T0 + timedelta(hours=1)
    results = await summaries.upsert_external_many(
        [
            ExternalSummary(external_id="e3", body="beta3", score=7, edited_at=later),
            ExternalSummary(external_id="e0", body="alpha0", score=5, edited_at=later),
            ExternalSummary(external_id="e1", body="beta1", title="T", edited_at=later),
            ExternalSummary(external_id="e2", body="alpha2", edited_at=T0),
        ]
    )
    assert [r.status for r in results] == ["updated", "updated", "updated", "unchanged"]
    rows = await db.fetchall("SELECT body, title, score, edited_at FROM summaries ORDER BY id")
    stamp = int(later.timestamp())
    assert [tuple(row) for row in rows] == [
        ("alpha0", "", 5, stamp), ("beta1", "T", 0, stamp),
        ("alpha2", "", 0, int(T0.timestamp())), ("beta3", "", 7, stamp),
    ]  # fmt: skip
    changed = await db.fetchall(
        "SELECT DISTINCT item_id FROM search_changes WHERE kind = 'summary' AND seq > 4"
    )
    assert sorted(row[0] for row in changed) == [1, 2, 4]


async def test_soft_deleted_summary_stays_deleted(
    summaries: SummaryRepository, db: Database
) -> None:
    result = await summaries.upsert_external(external_id="e", body="b", edited_at=T0)
    async with db.transaction() as conn:
        await conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id = ?", (result.summary_id,))
    await summaries.upsert_external(external_id="e", body="b2", edited_at=T0 + timedelta(hours=1))
    assert await summaries.get(result.summary_id, guild_id=None) is None
    hidden = await summaries.get(result.summary_id, guild_id=None, include_hidden=True)
    assert hidden is not None and hidden.body == "b2" and hidden.deleted_at is not None
    assert (await summaries.get_by_external_id("e")) == hidden


async def test_visibility_everywhere(summaries: SummaryRepository, db: Database) -> None:
    paper = await PaperRepository(db).find_or_create(
        [PaperId(kind="arxiv", value="1502.03167")], title="Batch Normalization"
    )
    feed = await summaries.upsert_external(
        external_id="feed", body="from the feed", paper_id=paper.id, score=1,
        created_at=T0, edited_at=T0,
    )  # fmt: skip
    ours = await community(db, guild_id=GUILD, paper_id=paper.id, score=5,
                           created=T0 + timedelta(days=1))  # fmt: skip
    theirs = await community(db, guild_id=OTHER_GUILD, paper_id=paper.id, score=9,
                             created=T0 + timedelta(days=2))  # fmt: skip
    deleted = await community(db, guild_id=GUILD, paper_id=paper.id, score=7, deleted=True,
                              created=T0 + timedelta(days=3))  # fmt: skip

    def ids(found: list) -> list[int]:
        return [summary.id for summary in found]

    assert ids(await summaries.list_for_paper(paper.id, guild_id=GUILD)) == [ours, feed.summary_id]
    assert ids(await summaries.list_for_paper(paper.id, guild_id=OTHER_GUILD)) == [
        theirs, feed.summary_id,
    ]  # fmt: skip
    assert ids(await summaries.list_for_paper(paper.id, guild_id=None)) == [feed.summary_id]
    assert ids(await summaries.latest(10, guild_id=GUILD)) == [ours, feed.summary_id]
    assert ids(await summaries.latest(1, guild_id=OTHER_GUILD)) == [theirs]
    assert ids(await summaries.top(T0, 10, guild_id=GUILD)) == [ours, feed.summary_id]
    assert ids(await summaries.top(T0 + timedelta(hours=1), 10, guild_id=None)) == []
    assert await summaries.get(ours, guild_id=GUILD) is not None
    assert await summaries.get(ours, guild_id=OTHER_GUILD) is None
    assert await summaries.get(ours, guild_id=None) is None
    assert await summaries.get(deleted, guild_id=GUILD) is None
    assert await summaries.get(feed.summary_id, guild_id=OTHER_GUILD) is not None
    listed = (await summaries.list_for_paper(paper.id, guild_id=None))[0]
    assert listed.paper is not None and listed.paper.title == "Batch Normalization"
    assert listed.display_title == "Batch Normalization"
    for _ in range(20):
        pick = await summaries.random(guild_id=GUILD)
        assert pick is not None and pick.id in {ours, feed.summary_id}
        dm_pick = await summaries.random(guild_id=None)
        assert dm_pick is not None and dm_pick.id == feed.summary_id


async def test_random_on_an_empty_table_and_with_nothing_visible(
    summaries: SummaryRepository, db: Database
) -> None:
    assert await summaries.random(guild_id=None) is None
    await community(db, guild_id=GUILD)
    assert await summaries.random(guild_id=None) is None
    assert await summaries.random(guild_id=GUILD) is not None


async def test_an_abstract_is_read_but_never_ranked_nor_listed_as_a_papers_summary(
    summaries: SummaryRepository, db: Database
) -> None:
    """An arXiv entry is the paper: `/latest` and `/summary view` show it (labelled), `/top`
    and a paper's list of summaries leave it out."""
    paper = await PaperRepository(db).find_or_create(
        [PaperId(kind="arxiv", value="2401.10241")], title="Sparse Mixtures"
    )
    abstract = await summaries.upsert_external(
        external_id="oai:arXiv.org:2401.10241", body="We study...", paper_id=paper.id,
        score=50, created_at=T0, edited_at=T0, kind="abstract",
    )  # fmt: skip
    written = await summaries.upsert_external(
        external_id="post", body="My take.", paper_id=paper.id, score=1,
        created_at=T0, edited_at=T0,
    )  # fmt: skip
    stored = await summaries.get(abstract.summary_id, guild_id=None)
    assert stored is not None and stored.kind == "abstract" and stored.is_abstract
    assert [s.id for s in await summaries.top(T0, 10, guild_id=None)] == [written.summary_id]
    listed = await summaries.list_for_paper(paper.id, guild_id=None)
    assert [s.id for s in listed] == [written.summary_id]
    assert {s.id for s in await summaries.latest(10, guild_id=None)} == {
        abstract.summary_id, written.summary_id,
    }  # fmt: skip
    # A kind learnt later is written (and logged for search) though the text is the same.
    before = await db.fetchval("SELECT count(*) FROM search_changes")
    again = await summaries.upsert_external(
        external_id="post", body="My take.", paper_id=paper.id, score=1,
        created_at=T0, edited_at=T0, kind="abstract",
    )  # fmt: skip
    assert again.status == "updated"
    assert await db.fetchval("SELECT count(*) FROM search_changes") == before + 1
    assert (await summaries.get(written.summary_id, guild_id=None)).kind == "abstract"  # type: ignore[union-attr]


async def test_the_migration_classifies_existing_rows_as_ingest_does(
    databases: DatabaseFactory,
) -> None:
    database = await databases.open(migrated=False)
    migrations = load_migrations(engine=database.engine)
    cut = next(i for i, m in enumerate(migrations) if m.name.endswith("_summary_kind.sql"))
    await database.migrate(migrations[:cut])
    async with database.transaction() as conn:
        await conn.execute(
            "INSERT INTO papers (id, canonical_key, title, abstract)"
            " VALUES (1, 'arxiv:2401.10241', 'Sparse', ' We study sparse mixtures. ')"
        )
        seeded = [
            ("oai:arXiv.org:2401.10241", "We study sparse mixtures.", "feed", None),
            # A ShortScience member who pasted the abstract still wrote a summary.
            (SS_GUID, "We study sparse mixtures.", "feed", None),
            ("https://blog.example/copy", "We study sparse mixtures.", "feed", None),
            ("https://blog.example/own", "What I make of it.", "feed", None),
            (None, "We study sparse mixtures.", "community", GUILD),
        ]
        for external_id, body, origin, guild in seeded:
            await conn.execute(
                "INSERT INTO summaries (paper_id, origin, guild_id, external_id, body)"
                " VALUES (1, ?, ?, ?, ?)",
                (origin, guild, external_id, body),
            )
    await database.migrate(migrations)
    rows = await database.fetchall("SELECT kind FROM summaries ORDER BY id")
    kinds = [row[0] for row in rows]
    assert kinds == ["abstract", "summary", "abstract", "summary", "summary"]
    # The search log follows a change of kind from now on.
    before = await database.fetchval("SELECT count(*) FROM search_changes")
    async with database.transaction() as conn:
        await conn.execute("UPDATE summaries SET kind = 'summary' WHERE id = 1")
    assert await database.fetchval("SELECT count(*) FROM search_changes") == before + 1
