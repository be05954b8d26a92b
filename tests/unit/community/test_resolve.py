"""Paper resolution: the database first, then arXiv (the local fixture server). Resolving
stores nothing; storing (at Publish) writes the paper, and after a failed look-up marks it
pending (the enrichment loop fills it in later)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.community.arxiv import ArxivClient
from bot.community.resolve import (
    UNSAVED_PAPER_ID,
    PaperResolver,
    ResolvedPaper,
    read_paper_input,
)
from bot.errors import UserFacingError
from bot.pacing import RequestSpacer
from bot.storage import Database
from bot.storage.community import CommunityRepository
from bot.storage.papers import PaperRepository
from tests.databases import DatabaseFactory
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.unit.storage.test_community import GUILD, OTHER_GUILD, save


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


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


async def resolve(paper_resolver: PaperResolver, text: str) -> ResolvedPaper:
    """The paper an identifier or link names, as a draft's preview finds it."""
    named = read_paper_input(text)
    assert not isinstance(named, str), f"{text!r} is a title"
    return await paper_resolver.resolve_id(named)


async def store(paper_resolver: PaperResolver, resolved: ResolvedPaper) -> int:
    async with paper_resolver.db.transaction() as conn:
        return await paper_resolver.store(resolved, guild_id=GUILD, conn=conn)


async def paper_count(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM papers"))


async def test_arxiv_id_fills_the_paper_and_the_database_answers_next_time(
    resolver: tuple[PaperResolver, Clock], server: ArxivFixtureServer, db: Database
) -> None:
    paper_resolver, _ = resolver
    resolved = await resolve(paper_resolver, "https://arxiv.org/abs/1502.03167v2")
    assert not resolved.pending and not resolved.is_stored
    assert resolved.paper.id == UNSAVED_PAPER_ID
    assert resolved.paper.title.startswith("Batch Normalization")
    assert resolved.paper.authors == "Sergey Ioffe, Christian Szegedy"
    assert resolved.paper.year == 2015
    assert resolved.paper.arxiv_id == "1502.03167"
    assert await paper_count(db) == 0  # looked up, not stored
    # Resolving again (a second preview) asks arXiv once: the client caches in memory.
    await resolve(paper_resolver, "arXiv:1502.03167")
    assert len(server.requests) == 1
    paper_id = await store(paper_resolver, resolved)
    stored = await PaperRepository(db).get(paper_id)
    assert stored is not None and stored.title == resolved.paper.title
    assert stored.pdf_url == resolved.paper.pdf_url == "https://arxiv.org/pdf/1502.03167v3"
    assert stored.categories == ("cs.LG",) and stored.published == "2015-02-11"
    # A fresh client (no cache): the database answers without asking arXiv.
    paper_resolver.arxiv._cache.clear()
    again = await resolve(paper_resolver, "arXiv:1502.03167")
    assert again.is_stored and again.paper.id == paper_id
    assert await store(paper_resolver, again) == paper_id
    assert len(server.requests) == 1


async def test_a_failed_look_up_stores_a_pending_paper(
    resolver: tuple[PaperResolver, Clock], server: ArxivFixtureServer, db: Database
) -> None:
    """The enrichment loop fills it in later: tests/unit/enrichment/test_service.py."""
    paper_resolver, _ = resolver
    server.outage_status = 503
    resolved = await resolve(paper_resolver, "1706.03762")
    assert resolved.pending and resolved.note and resolved.paper.title == ""
    assert await paper_count(db) == 0
    paper_id = await store(paper_resolver, resolved)
    assert await CommunityRepository(db).lookup_status(paper_id) == "pending"


async def test_doi_and_title_and_refusals(
    resolver: tuple[PaperResolver, Clock], server: ArxivFixtureServer, db: Database
) -> None:
    paper_resolver, _ = resolver
    doi = await resolve(paper_resolver, "https://doi.org/10.1145/3065386")
    assert doi.paper.doi == "10.1145/3065386" and not doi.pending and not doi.is_stored
    titled = paper_resolver.new_titled("  Deep   Residual Learning for Image Recognition ")
    assert titled.paper.title == "Deep Residual Learning for Image Recognition"
    assert not titled.is_stored and await paper_count(db) == 0
    paper_id = await store(paper_resolver, titled)
    await save(CommunityRepository(db), paper_id, 1)  # a summary of it in GUILD
    # Typed again in that server, the title finds it (the title picker's exact match)...
    papers = PaperRepository(db)
    found = await papers.find_visible_by_title(
        "deep residual learning for image recognition", guild_id=GUILD
    )
    assert found is not None
    same = await paper_resolver.resolve_stored(found)
    assert same.is_stored and same.paper.id == paper_id
    # ...while another server does not find the title it never saw.
    title = "Deep Residual Learning for Image Recognition"
    assert await papers.find_visible_by_title(title, guild_id=OTHER_GUILD) is None
    assert server.requests == []
    for bad, words in [
        ("", "Tell me which paper"),
        ("arXiv:1513.00001", "doesn't look like a paper"),
        ("https://example.com/x", "doesn't look like a paper"),
        ("ab", "at least"),
        ("x" * 401, "at most 400 characters"),
    ]:
        with pytest.raises(UserFacingError, match=words):
            read_paper_input(bad)


async def test_previews_of_a_new_paper_published_together_store_and_describe_it_once(
    resolver: tuple[PaperResolver, Clock], db: Database
) -> None:
    """Two members preview the same new arXiv paper, then both publish: one row, described
    once (describing it again would count another look-up and rewrite the row for nothing)."""
    paper_resolver, _ = resolver
    first = await resolve(paper_resolver, "1706.03762")
    second = await resolve(paper_resolver, "1706.03762")
    assert not first.is_stored and not second.is_stored
    paper_id = await store(paper_resolver, first)
    await save(CommunityRepository(db), paper_id, 1)
    assert await store(paper_resolver, second) == paper_id
    assert await paper_count(db) == 1
    assert await db.fetchval("SELECT attempts FROM arxiv_lookups") == 1
