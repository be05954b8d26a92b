"""The search engine: exactly FTS5's bm25 ranking (accelerated or not), visibility, filters,
paging, excerpts, autocomplete, and staying right while others write."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.search import (
    SearchEngine,
    autocomplete_titles,
    close_search_engine,
    page_to_json,
    refresh_search_index,
    search_index_status,
    search_summaries,
)
from bot.search.index import build_index
from bot.search.query import FtsQuery, build_fts_query
from bot.search.repository import Visibility
from bot.storage.database import Database, load_migrations, split_statements

SEED = 20240611
HEAD = ["the", "model", "network", "data", "learning", "deep", "training", "paper", "results"]


def make_vocabulary(rng: random.Random, size: int) -> list[str]:
    words = list(HEAD)
    while len(words) < size:
        word = "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))
        if word not in words:
            words.append(word)
    return words


class Corpus:
    """Random summaries with a Zipf-like word distribution (some words are everywhere)."""

    def __init__(self, seed: int = SEED, vocabulary: int = 400) -> None:
        self.rng = random.Random(seed)
        self.words = make_vocabulary(self.rng, vocabulary)
        self.weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(self.words))]
        self.next_id = 1

    def text(self, count: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=count))

    def body(self) -> str:
        # "the" many times per document: the accelerator reads such terms through bm25().
        return self.text(self.rng.randint(15, 90)) + " the" * self.rng.randint(8, 14)

    def insert(self, conn: sqlite3.Connection, count: int) -> list[int]:
        ids = []
        for _ in range(count):
            summary_id = self.next_id
            self.next_id += 1
            rng = self.rng
            conn.execute(
                "INSERT INTO papers (id, canonical_key, title, authors, year, venue) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    summary_id,
                    f"title:{summary_id}",
                    self.text(rng.randint(2, 7)).title(),
                    ", ".join(self.text(2).title() for _ in range(rng.randint(1, 3))),
                    rng.choice([2015, 2018, 2020, 2021, None]),
                    rng.choice(["NeurIPS", "ICML", "CVPR 2020", None]),
                ),
            )
            community = rng.random() < 0.2
            conn.execute(
                "INSERT INTO summaries (id, paper_id, origin, guild_id, author_name, tldr, body,"
                " url, score, created_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    summary_id,
                    summary_id,
                    "community" if community else "feed",
                    rng.choice([1, 2]) if community else None,
                    rng.choice(["alice", "bob", "carol_m", "dave"]),
                    self.text(rng.randint(0, 12)),
                    self.body(),
                    f"https://example.org/s/{summary_id}",
                    rng.randint(-2, 5),
                    rng.choice([1_600_000_000, 1_600_000_000 + summary_id]),
                    1_700_000_000 if rng.random() < 0.05 else None,
                ),
            )
            ids.append(summary_id)
        return ids


def migrate(conn: sqlite3.Connection) -> None:
    for migration in load_migrations():
        conn.execute("BEGIN")
        for statement in split_statements(migration.sql):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = " + str(int(migration.version)))
        conn.execute("COMMIT")


def open_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def build(conn: sqlite3.Connection) -> None:
    report = build_index(conn, min_df=8, min_rows=10)
    assert report.built, report.reason


@pytest.fixture
def corpus_db(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection, Corpus]]:
    path = tmp_path / "search.sqlite3"
    conn = open_db(path)
    migrate(conn)
    corpus = Corpus()
    conn.execute("BEGIN")
    corpus.insert(conn, 700)
    conn.execute("COMMIT")
    yield path, conn, corpus
    conn.close()


def random_queries(corpus: Corpus, rng: random.Random, count: int) -> list[str]:
    queries = []
    frequent = corpus.words[:60]
    rare = corpus.words[150:]
    for _ in range(count):
        kind = rng.randrange(7)
        if kind == 0:
            words = [rng.choice(frequent)]
        elif kind == 1:
            words = rng.sample(frequent, 2)
        elif kind == 2:
            words = rng.sample(frequent, 3)
        elif kind == 3:
            words = [rng.choice(rare)]
        elif kind == 4:
            words = [rng.choice(frequent), rng.choice(rare)]
        elif kind == 5:
            words = ['"' + " ".join(rng.sample(frequent[:12], 2)) + '"']
        else:
            words = ['"' + " ".join(rng.sample(frequent[:8], 2)) + '"', rng.choice(frequent)]
        queries.append(" ".join(words))
    return queries


VISIBILITIES = [
    Visibility(),
    Visibility(guild_id=1),
    Visibility(guild_id=2, origin="community"),
    Visibility(all_guilds=True),
    Visibility(origin="feed", guild_id=1),
]


def assert_same_as_plain(
    engine: SearchEngine, query: FtsQuery, visibility: Visibility, offset: int, limit: int
) -> str:
    fast = engine.rank_only(query, visibility, offset=offset, limit=limit)
    plain = engine.plain_rank_only(query, visibility, offset=offset, limit=limit)
    context = (query.expression, visibility, offset, limit, fast.plan)
    assert [hit.summary_id for hit in fast.hits] == [hit.summary_id for hit in plain.hits], context
    assert [hit.rank for hit in fast.hits] == [hit.rank for hit in plain.hits], context
    assert fast.has_more == plain.has_more, context
    return fast.plan


def check_many(engine: SearchEngine, corpus: Corpus, seed: int, count: int) -> dict[str, int]:
    rng = random.Random(seed)
    plans: dict[str, int] = {}
    for text in random_queries(corpus, rng, count):
        query = build_fts_query(text)
        assert query is not None
        visibility = rng.choice(VISIBILITIES)
        offset = rng.choice([0, 0, 0, 5, 20])
        limit = rng.choice([1, 5, 10])
        plan = assert_same_as_plain(engine, query, visibility, offset, limit)
        plans[plan] = plans.get(plan, 0) + 1
    return plans


def test_bm25_is_reproduced_bit_for_bit(corpus_db: tuple[Path, sqlite3.Connection, Corpus]) -> None:
    path, conn, corpus = corpus_db
    build(conn)
    engine = SearchEngine(path)
    try:
        plans = check_many(engine, corpus, seed=1, count=250)
    finally:
        engine.close()
    # The accelerated plans were used, not only the plain one.
    assert plans.get("frequent", 0) > 50 and plans.get("rare", 0) > 20, plans


def test_still_exact_after_inserts_edits_and_deletes(
    corpus_db: tuple[Path, sqlite3.Connection, Corpus],
) -> None:
    path, conn, corpus = corpus_db
    build(conn)
    engine = SearchEngine(path)
    rng = random.Random(7)
    try:
        check_many(engine, corpus, seed=2, count=20)  # loads the snapshot before the changes
        conn.execute("BEGIN")
        corpus.insert(conn, 60)
        for summary_id in rng.sample(range(1, 700), 25):
            conn.execute("UPDATE summaries SET body = ? WHERE id = ?", (corpus.body(), summary_id))
        for summary_id in rng.sample(range(1, 700), 10):
            conn.execute("DELETE FROM summaries WHERE id = ?", (summary_id,))
        conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id IN (701, 702, 703)")
        conn.execute("UPDATE papers SET title = 'The Model Network Paper' WHERE id = 650")
        conn.execute("COMMIT")
        plans = check_many(engine, corpus, seed=3, count=200)
        assert plans.get("frequent", 0) > 40, plans  # dirty documents handled, not a fallback
        assert engine.status().changed_since_build > 90
        build(conn)
        check_many(engine, corpus, seed=4, count=60)
        assert engine.status().changed_since_build == 0
    finally:
        engine.close()


def test_too_many_changes_fall_back_to_plain_and_a_rebuild_is_due(tmp_path: Path) -> None:
    path = tmp_path / "small.sqlite3"
    conn = open_db(path)
    migrate(conn)
    corpus = Corpus(seed=5)
    conn.execute("BEGIN")
    corpus.insert(conn, 300)
    conn.execute("COMMIT")
    build(conn)
    conn.execute("BEGIN")
    corpus.insert(conn, 600)  # more than the dirty limit (500)
    conn.execute("COMMIT")
    engine = SearchEngine(path)
    try:
        query = build_fts_query("the model")
        assert query is not None
        assert assert_same_as_plain(engine, query, Visibility(), 0, 5) == "plain"
        status = engine.status()
        assert status.rebuild_due and status.changed_since_build == 600
        assert engine.rebuild(force=True).built is False  # only 900 rows: below the default
        build(conn)
        assert assert_same_as_plain(engine, query, Visibility(), 0, 5) == "frequent"
    finally:
        engine.close()
        conn.close()


def test_exact_while_another_connection_writes(
    corpus_db: tuple[Path, sqlite3.Connection, Corpus],
) -> None:
    path, conn, corpus = corpus_db
    build(conn)
    engine = SearchEngine(path)
    writer = open_db(path)
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                writer.execute("BEGIN IMMEDIATE")
                corpus_ids = corpus.insert(writer, 3)
                writer.execute(
                    "UPDATE summaries SET body = body || ' model' WHERE id = ?",
                    (corpus_ids[0] - 300,),
                )
                writer.execute("COMMIT")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        for text in ["the", "model network", "data", "learning the deep", '"the model"']:
            query = build_fts_query(text)
            assert query is not None
            for _ in range(5):
                engine.search(query, Visibility(), offset=0, limit=5)
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert not errors
    try:
        check_many(engine, corpus, seed=8, count=60)
    finally:
        engine.close()


def test_a_cli_process_writing_is_seen_exactly(
    corpus_db: tuple[Path, sqlite3.Connection, Corpus],
) -> None:
    path, conn, corpus = corpus_db
    build(conn)
    engine = SearchEngine(path)
    try:
        query = build_fts_query("zzyzx model")
        assert query is not None
        assert engine.rank_only(query, Visibility(), offset=0, limit=5).hits == ()
        script = (
            "import sqlite3, sys\n"
            "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "conn.execute('PRAGMA busy_timeout = 5000')\n"
            "conn.execute(\"INSERT INTO summaries (origin, body) VALUES ('feed', "
            "'zzyzx model model the')\")\n"
            "conn.execute(\"UPDATE summaries SET body = 'zzyzx model' WHERE id = 3\")\n"
        )
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
        page = engine.rank_only(query, Visibility(), offset=0, limit=5)
        assert {hit.summary_id for hit in page.hits} >= {701}
        assert_same_as_plain(engine, query, Visibility(), 0, 5)
        check_many(engine, corpus, seed=9, count=40)
    finally:
        engine.close()


def test_paging_walks_the_whole_ranking(corpus_db: tuple[Path, sqlite3.Connection, Corpus]) -> None:
    path, conn, _ = corpus_db
    build(conn)
    engine = SearchEngine(path)
    try:
        query = build_fts_query("model")
        assert query is not None
        everything = engine.plain_rank_only(query, Visibility(), offset=0, limit=1000).hits
        walked = []
        offset = 0
        while True:
            page = engine.rank_only(query, Visibility(), offset=offset, limit=7)
            walked.extend(hit.summary_id for hit in page.hits)
            if not page.has_more:
                break
            offset += 7
        assert walked == [hit.summary_id for hit in everything]
    finally:
        engine.close()


# -- the async API ----------------------------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "api.sqlite3")
    await database.migrate()
    yield database
    close_search_engine(database)
    await database.close()


async def add_summary(
    db: Database,
    *,
    title: str,
    body: str,
    tldr: str = "",
    origin: str = "feed",
    guild_id: int | None = None,
    author: str = "alice",
    score: int = 0,
    created_at: int = 1_600_000_000,
    year: int | None = None,
    venue: str | None = None,
    authors: str = "",
    deleted: bool = False,
) -> int:
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO papers (canonical_key, title, authors, year, venue)"
            " VALUES (?, ?, ?, ?, ?)",
            (f"title:{title}:{created_at}:{guild_id}", title, authors, year, venue),
        )
        paper_id = cursor.lastrowid
        cursor = await conn.execute(
            "INSERT INTO summaries (paper_id, origin, guild_id, author_name, tldr, body, score,"
            " created_at, deleted_at, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                paper_id, origin, guild_id, author, tldr, body, score, created_at,
                1 if deleted else None, f"https://www.shortscience.org/s/{paper_id}",
            ),
        )  # fmt: skip
        assert cursor.lastrowid is not None
        return cursor.lastrowid


async def test_fresh_empty_database(db: Database) -> None:
    page = await search_summaries(db, "anything at all", guild_id=None)
    assert page.results == () and not page.has_more and not page.nothing_to_search
    assert await autocomplete_titles(db, "any") == []
    assert await autocomplete_titles(db, "") == []
    status = await search_index_status(db)
    assert status.build_id is None and not status.rebuild_due
    assert not (await refresh_search_index(db)).built


async def test_nothing_to_search(db: Database) -> None:
    page = await search_summaries(db, ' *** "" -- 🙂 ', guild_id=1)
    assert page.nothing_to_search and page.results == ()


async def test_visibility(db: Database) -> None:
    feed = await add_summary(db, title="Feed paper", body="shared topic")
    mine = await add_summary(db, title="Mine", body="shared topic", origin="community", guild_id=1)
    theirs = await add_summary(
        db, title="Theirs", body="shared topic", origin="community", guild_id=2
    )
    await add_summary(db, title="Gone", body="shared topic", deleted=True)

    async def ids(**kwargs: object) -> set[int]:
        page = await search_summaries(db, "shared topic", limit=50, **kwargs)  # type: ignore[arg-type]
        return {result.summary_id for result in page.results}

    assert await ids(guild_id=1) == {feed, mine}
    assert await ids(guild_id=2) == {feed, theirs}
    assert await ids(guild_id=None) == {feed}
    assert await ids(guild_id=None, all_guilds=True) == {feed, mine, theirs}
    assert await ids(guild_id=1, origin="feeds") == {feed}
    assert await ids(guild_id=1, origin="community") == {mine}
    assert await ids(guild_id=None, origin="community", all_guilds=True) == {mine, theirs}
    with pytest.raises(ValueError):
        await search_summaries(db, "shared", guild_id=1, origin="nonsense")


async def test_ranking_fields_and_tie_breaks(db: Database) -> None:
    in_body = await add_summary(db, title="Something else", body="attention " + "filler " * 30)
    in_tldr = await add_summary(db, title="Other", tldr="attention here", body="filler " * 30)
    in_title = await add_summary(db, title="Attention", body="filler " * 30)
    low = await add_summary(db, title="Twin", body="twin words", score=1, created_at=5)
    high = await add_summary(db, title="Twin", body="twin words", score=9, created_at=1)
    newer = await add_summary(db, title="Twin", body="twin words", score=1, created_at=9)
    page = await search_summaries(db, "attention", guild_id=None, limit=10)
    assert [result.summary_id for result in page.results] == [in_title, in_tldr, in_body]
    page = await search_summaries(db, "twin words", guild_id=None, limit=10)
    assert [result.summary_id for result in page.results] == [high, newer, low]


async def test_filters(db: Database) -> None:
    a = await add_summary(
        db, title="Alpha", body="graph neural", author="carol_m", year=2020,
        venue="NeurIPS 2020", authors="Ada Lovelace, Alan Turing",
    )  # fmt: skip
    b = await add_summary(db, title="Beta", body="graph neural", author="dave", year=2018)
    everyone = await search_summaries(db, "graph", guild_id=None)
    assert {r.summary_id for r in everyone.results} == {a, b}
    by_author = await search_summaries(db, "graph", guild_id=None, author="CAROL_")
    assert [r.summary_id for r in by_author.results] == [a]
    by_paper_author = await search_summaries(db, "graph", guild_id=None, author="turing")
    assert [r.summary_id for r in by_paper_author.results] == [a]
    by_year = await search_summaries(db, "graph", guild_id=None, year=2018)
    assert [r.summary_id for r in by_year.results] == [b]
    by_venue = await search_summaries(db, "graph", guild_id=None, venue="neurips")
    assert [r.summary_id for r in by_venue.results] == [a]
    wildcard = await search_summaries(db, "graph", guild_id=None, author="%")
    assert wildcard.results == ()


async def test_paging_and_json(db: Database) -> None:
    for index in range(12):
        await add_summary(db, title=f"Paper {index}", body="paging test", score=index)
    first = await search_summaries(db, "paging", guild_id=None, limit=5)
    second = await search_summaries(db, "paging", guild_id=None, offset=5, limit=5)
    third = await search_summaries(db, "paging", guild_id=None, offset=10, limit=5)
    assert first.has_more and second.has_more and not third.has_more
    assert len(third.results) == 2 and third.page_number == 3
    seen = [r.summary_id for page in (first, second, third) for r in page.results]
    assert len(set(seen)) == 12
    document = page_to_json(first)
    json.dumps(document)
    result = document["results"][0]
    assert {"id", "paper_title", "paper_id", "author", "score", "url", "excerpt"} <= set(result)
    assert result["score"] == 11 and result["url"].startswith("https://")


async def test_excerpt_is_bold_one_line_and_harmless(db: Database) -> None:
    await add_summary(
        db,
        title="Pings",
        body="# Heading\n\n@everyone look: <@123> [click](https://evil.example) **not bold**\n"
        "the transformer model ||spoiler|| `code`",
    )
    page = await search_summaries(db, "transformer", guild_id=None)
    excerpt = page.results[0].excerpt
    assert "\n" not in excerpt
    assert "**transformer**" in excerpt
    assert "@everyone" not in excerpt and "<@123>" not in excerpt
    assert "](" not in excerpt and "||" not in excerpt.replace("\\|\\|", "")
    assert excerpt.count("**") == 2
    assert "transformer" in page.results[0].excerpt_text


async def test_autocomplete(db: Database) -> None:
    await add_summary(db, title="Batch Normalization: Accelerating Deep Network Training", body="x")
    await add_summary(db, title="Layer Normalization", body="x")
    await add_summary(db, title="Batch Size Matters", body="x")
    await add_summary(db, title="Batch Secrets", body="x", origin="community", guild_id=2)
    titles = [s.title for s in await autocomplete_titles(db, "batch", guild_id=1)]
    assert titles == [
        "Batch Normalization: Accelerating Deep Network Training",
        "Batch Size Matters",
    ]
    titles = [s.title for s in await autocomplete_titles(db, "norm", guild_id=1)]
    assert set(titles) == {
        "Batch Normalization: Accelerating Deep Network Training",
        "Layer Normalization",
    }
    assert "Batch Secrets" in [s.title for s in await autocomplete_titles(db, "bat", guild_id=2)]
    assert len(await autocomplete_titles(db, "", guild_id=1)) == 3
    assert await autocomplete_titles(db, '"*(', guild_id=1) == []
    for index in range(30):
        await add_summary(db, title=f"Batch {index:02d}", body="x")
    assert len(await autocomplete_titles(db, "BATCH", guild_id=None)) == 25


async def test_refresh_builds_when_due(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.search.engine as engine_module
    import bot.search.index as index_module

    monkeypatch.setattr(index_module, "MIN_ROWS_FOR_INDEX", 5)
    monkeypatch.setattr(engine_module, "MIN_ROWS_FOR_INDEX", 5)
    for index in range(6):
        await add_summary(db, title=f"Refresh {index}", body="the refresh words")
    assert (await search_index_status(db)).rebuild_due
    report = await refresh_search_index(db)
    assert report.built and report.rows == 6
    status = await search_index_status(db)
    assert status.build_id == report.build_id and not status.rebuild_due
    assert not (await refresh_search_index(db)).built
    page = await search_summaries(db, "refresh words", guild_id=None, limit=10)
    assert len(page.results) == 6


async def test_concurrent_searches(db: Database) -> None:
    for index in range(20):
        await add_summary(db, title=f"Concurrent {index}", body=f"parallel search {index}")
    pages = await asyncio.gather(
        *(search_summaries(db, "parallel search", guild_id=None, limit=20) for _ in range(8))
    )
    assert all(len(page.results) == 20 for page in pages)


# -- any text, through the accelerated engine ------------------------------------------------


@pytest.fixture(scope="module")
def indexed_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SearchEngine]:
    path = tmp_path_factory.mktemp("hypothesis") / "search.sqlite3"
    conn = open_db(path)
    migrate(conn)
    conn.execute("BEGIN")
    Corpus(seed=11).insert(conn, 300)
    conn.execute("COMMIT")
    build(conn)
    conn.close()
    engine = SearchEngine(path)
    yield engine
    engine.close()


WORDS_AND_SYNTAX = st.lists(
    st.one_of(
        st.sampled_from([*HEAD, '"', "*", "-", ":", "(", ")", "AND", "NEAR", "🙂", "é"]),
        st.text(max_size=12),
    ),
    max_size=12,
).map(" ".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.one_of(WORDS_AND_SYNTAX, st.text(max_size=1000)), offset=st.sampled_from([0, 5]))
def test_any_text_through_the_engine(indexed_engine: SearchEngine, text: str, offset: int) -> None:
    query = build_fts_query(text)
    if query is None:
        return
    page = indexed_engine.search(query, Visibility(guild_id=1), offset=offset, limit=5)
    for result in page.results:
        assert "\n" not in result.excerpt
    assert_same_as_plain(indexed_engine, query, Visibility(guild_id=1), offset, 5)


def test_postings_equal_fts5_counts(corpus_db: tuple[Path, sqlite3.Connection, Corpus]) -> None:
    """Both ways of reading postings (fts5vocab hits, inverted bm25) give FTS5's counts."""
    from bot.search.bm25 import WEIGHTS
    from bot.search.index import decode_documents, decode_postings

    _, conn, _ = corpus_db
    build(conn)
    conn.execute(
        "CREATE VIRTUAL TABLE temp.check_hits USING fts5vocab(main, summary_fts, instance)"
    )
    doc_ids, _ = decode_documents(
        conn.execute("SELECT documents FROM search_index_meta").fetchone()[0]
    )
    columns = {
        name: index
        for index, name in enumerate(
            ("paper_title", "paper_authors", "author_name", "tldr", "body")
        )
    }
    for term in ("the", "model", "data", "training"):
        blob = conn.execute(
            "SELECT postings FROM search_index_terms WHERE term = ?", (term,)
        ).fetchone()[0]
        positions, freqs = decode_postings(blob)
        expected: dict[int, float] = {}
        for doc, column in conn.execute(
            "SELECT doc, col FROM temp.check_hits WHERE term = ?", (term,)
        ):
            expected[doc] = expected.get(doc, 0.0) + WEIGHTS[columns[column]]
        assert dict(zip(doc_ids[positions].tolist(), freqs.tolist(), strict=True)) == expected


def test_a_lost_change_log_is_detected(corpus_db: tuple[Path, sqlite3.Connection, Corpus]) -> None:
    path, conn, corpus = corpus_db
    build(conn)
    conn.execute("BEGIN")
    corpus.insert(conn, 5)
    conn.execute("DELETE FROM search_changes")  # as if the triggers had not run
    conn.execute("COMMIT")
    engine = SearchEngine(path)
    try:
        query = build_fts_query("the model")
        assert query is not None
        assert assert_same_as_plain(engine, query, Visibility(), 0, 5) == "plain"
        assert engine.status().rebuild_due
        build(conn)
        assert assert_same_as_plain(engine, query, Visibility(), 0, 5) == "frequent"
    finally:
        engine.close()
