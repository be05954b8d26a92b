"""The look-up queues of arXiv and Crossref: filled by trigger and by migration 0009."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.papers import PaperId
from bot.storage import Database, load_migrations
from bot.storage.lookups import DueLookup, LookupCounts, LookupQueue
from bot.storage.papers import PaperRepository
from tests.databases import DatabaseFactory

NOW = 1_700_000_000.0


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open(migrated=False)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "lookups.sqlite3")
    yield database
    await database.close()


async def test_papers_are_queued_when_they_get_an_identifier(db: Database) -> None:
    await db.migrate()
    papers = PaperRepository(db)
    arxiv, crossref = LookupQueue(db, "arxiv"), LookupQueue(db, "crossref")
    both = await papers.find_or_create(
        [PaperId("arxiv", "1502.03167"), PaperId("doi", "10.1038/nature14539")]
    )
    key_only = await papers.find_or_create([PaperId("bibtex", "conf/cvpr/HeZRS16")])
    assert await arxiv.due(NOW, limit=10) == [DueLookup(both.id, "1502.03167", 0)]
    assert await crossref.due(NOW, limit=10) == [DueLookup(both.id, "10.1038/nature14539", 0)]
    # A paper that learns an identifier later is queued then.
    await papers.find_or_create([PaperId("bibtex", "conf/cvpr/HeZRS16"), PaperId("doi", "10.1/r")])
    assert [d.paper_id for d in await crossref.due(NOW, limit=10)] == [both.id, key_only.id]
    await crossref.mark_resolved(both.id, "10.1038/nature14539", now=NOW)
    assert await crossref.counts() == LookupCounts(pending=1, resolved=1)
    assert await crossref.status(both.id) == "resolved"
    assert await arxiv.status(key_only.id) is None


async def test_migration_queues_existing_papers_and_asks_resolved_ones_again(
    sqlite_db: Database,
) -> None:
    db = sqlite_db
    migrations = load_migrations()
    await db.migrate(migrations[:6])
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO papers (id, canonical_key, arxiv_id, doi, title) VALUES "
            "(1, 'arxiv:1502.03167', '1502.03167', NULL, 'Batch Normalization'), "
            "(2, 'arxiv:1706.03762', '1706.03762', '10.5555/x', 'Attention'), "
            "(3, 'doi:10.1038/nature14539', NULL, '10.1038/nature14539', 'Deep learning'), "
            "(4, 'arxiv:2101.00001', '2101.00001', NULL, '')"
        )
        await conn.execute(
            "INSERT INTO arxiv_lookups (paper_id, arxiv_id, status, attempts, categories) "
            "VALUES (2, '1706.03762', 'resolved', 1, 'cs.CL cs.LG'), "
            "(4, '2101.00001', 'failed', 12, '')"
        )
    await db.migrate()
    arxiv = LookupQueue(db, "arxiv")
    assert [(d.paper_id, d.attempts) for d in await arxiv.due(NOW, limit=10)] == [(1, 0), (2, 0)]
    assert await arxiv.status(4) == "failed"  # given up stays given up
    assert [d.paper_id for d in await LookupQueue(db, "crossref").due(NOW, limit=10)] == [2, 3]
    attention = await PaperRepository(db).get(2)
    assert attention is not None and attention.categories == ("cs.CL", "cs.LG")
