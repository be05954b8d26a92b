"""Paper resolution: the database first, then arXiv (the local fixture server); failures
store the paper as pending (the enrichment loop fills it in later)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.community.arxiv import ArxivClient, RequestSpacer
from bot.community.resolve import PaperResolver
from bot.errors import UserFacingError
from bot.storage import Database
from bot.storage.community import CommunityRepository
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.unit.storage.test_community import open_community_db


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_community_db(tmp_path / "resolve.sqlite3")
    yield database
    await database.close()


@pytest.fixture
async def resolver(
    db: Database, server: ArxivFixtureServer
) -> AsyncIterator[tuple[PaperResolver, Clock]]:
    clock = Clock()
    async with aiohttp.ClientSession() as session:
        client = ArxivClient(
            session, api_url=server.url, min_interval=0, timeout=5.0, spacer=RequestSpacer()
        )
        yield PaperResolver(db, client, clock=clock), clock


async def test_arxiv_id_fills_the_paper_and_the_database_answers_next_time(
    resolver: tuple[PaperResolver, Clock], server: ArxivFixtureServer, db: Database
) -> None:
    paper_resolver, _ = resolver
    resolved = await paper_resolver.resolve("https://arxiv.org/abs/1502.03167v2")
    assert not resolved.pending
    assert resolved.paper.title.startswith("Batch Normalization")
    assert resolved.paper.authors == "Sergey Ioffe, Christian Szegedy"
    assert resolved.paper.year == 2015
    assert resolved.paper.arxiv_id == "1502.03167"
    assert resolved.paper.categories == ("cs.LG",)
    assert resolved.paper.published == "2015-02-11"
    # A fresh client (no cache): the database answers without asking arXiv.
    paper_resolver.arxiv._cache.clear()
    again = await paper_resolver.resolve("arXiv:1502.03167")
    assert again.paper.id == resolved.paper.id
    assert len(server.requests) == 1


async def test_a_failed_look_up_keeps_a_pending_paper(
    resolver: tuple[PaperResolver, Clock], server: ArxivFixtureServer, db: Database
) -> None:
    """The enrichment loop fills it in later: tests/unit/enrichment/test_service.py."""
    paper_resolver, _ = resolver
    server.outage_status = 503
    resolved = await paper_resolver.resolve("1706.03762")
    assert resolved.pending and resolved.note and resolved.paper.title == ""
    assert await CommunityRepository(db).lookup_status(resolved.paper.id) == "pending"


async def test_doi_and_title_and_refusals(
    resolver: tuple[PaperResolver, Clock], server: ArxivFixtureServer
) -> None:
    paper_resolver, _ = resolver
    doi = await paper_resolver.resolve("https://doi.org/10.1145/3065386")
    assert doi.paper.doi == "10.1145/3065386" and not doi.pending
    titled = await paper_resolver.resolve("  Deep   Residual Learning for Image Recognition ")
    assert titled.paper.title == "Deep Residual Learning for Image Recognition"
    same = await paper_resolver.resolve("deep residual learning for image recognition")
    assert same.paper.id == titled.paper.id
    assert server.requests == []
    for bad, words in [
        ("", "Tell me which paper"),
        ("arXiv:1513.00001", "doesn't look like a paper"),
        ("https://example.com/x", "doesn't look like a paper"),
        ("ab", "at least"),
        ("x" * 401, "at most 400 characters"),
    ]:
        with pytest.raises(UserFacingError, match=words):
            await paper_resolver.resolve(bad)
