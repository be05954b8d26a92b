"""A database with the real schema and a running search service over it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tantivy

from bot.search import SearchService
from bot.search import index as index_module
from bot.search import service as service_module
from bot.storage.database import Database
from tests.databases import DatabaseFactory


@dataclass
class Searchable:
    db: Database
    search: SearchService
    url: str  # the database (a file path or a PostgreSQL URL), for other "processes"
    index_path: Path


async def open_search(
    db: Database, index_path: Path, *, follow_commits: bool = True, **options: Any
) -> SearchService:
    search = SearchService(db, index_path, **options)
    await search.start(follow_commits=follow_commits)
    await search.wait_ready()
    return search


@pytest.fixture
async def searchable(databases: DatabaseFactory, tmp_path: Path) -> AsyncIterator[Searchable]:
    url = await databases.url()
    db = await databases.open_url(url)
    search = await open_search(db, tmp_path / "index")
    yield Searchable(db, search, url, tmp_path / "index")
    await search.close()


_KEYS = itertools.count(1)


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
    abstract: str | None = None,
    deleted: bool = False,
    paper_id: int | None = None,
    kind: str = "summary",
) -> int:
    """A summary (and, without `paper_id`, its own paper); the commit syncs the index."""
    async with db.transaction() as conn:
        if paper_id is None:
            paper_id = await conn.fetchval(
                "INSERT INTO papers (canonical_key, title, authors, year, venue, abstract)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (f"test:{next(_KEYS)}", title, authors, year, venue, abstract),
            )  # fmt: skip
        summary_id = await conn.fetchval(
            "INSERT INTO summaries (paper_id, origin, guild_id, author_name, tldr, body, score,"
            " created_at, deleted_at, url, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (
                paper_id, origin, guild_id, author, tldr, body, score, created_at,
                1 if deleted else None, f"https://www.shortscience.org/s/{paper_id}", kind,
            ),
        )  # fmt: skip
        return int(summary_id)


async def paper_of(db: Database, summary_id: int) -> int:
    return int(await db.fetchval("SELECT paper_id FROM summaries WHERE id = ?", (summary_id,)))


def hold_index_builds(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Index rebuilds happen in the background, even of a small database, and wait (in their
    thread) until the returned event is set, so a test can look at the service meanwhile."""
    monkeypatch.setattr(service_module, "BUILD_AT_ONCE_MAX", -1)
    release = asyncio.Event()
    loop = asyncio.get_running_loop()
    original_add = index_module.IndexBuilder.add

    def held_add(
        self: index_module.IndexBuilder, documents: Iterable[tantivy.Document | None]
    ) -> None:
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=30)
        original_add(self, documents)

    monkeypatch.setattr(index_module.IndexBuilder, "add", held_add)
    return release
