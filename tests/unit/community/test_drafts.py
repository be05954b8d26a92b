"""Drafts kept between the steps of writing a summary (any process takes the next step):
the text, the question of which paper, and the paper as resolved, arXiv's description
included, so that what is published is what was previewed without asking arXiv again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.community.arxiv import ArxivClient
from bot.community.drafts import (
    EDIT_SUMMARY,
    NEW_SUMMARY,
    DraftStore,
    edit_draft,
    resolved_from_json,
    resolved_to_json,
)
from bot.community.resolve import PaperResolver, ResolvedPaper
from bot.community.service import Draft, PendingChoice
from bot.errors import UserFacingError
from bot.pacing import RequestSpacer
from bot.storage import Database
from bot.storage.papers import PaperRepository
from tests.databases import DatabaseFactory
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.unit.community.test_resolve import resolve
from tests.unit.storage.test_community import GUILD

NOW = 1_700_000_000.0


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


@pytest.fixture
async def resolver(db: Database, server: ArxivFixtureServer) -> AsyncIterator[PaperResolver]:
    async with aiohttp.ClientSession() as session:
        client = ArxivClient(
            session, api_url=server.url, min_interval=0, timeout=5.0, spacer=RequestSpacer()
        )
        yield PaperResolver(db, client, clock=lambda: NOW)


async def test_a_resolved_paper_comes_back_as_it_was_resolved(
    db: Database, resolver: PaperResolver, server: ArxivFixtureServer
) -> None:
    papers = PaperRepository(db)
    described = await resolve(resolver, "arXiv:1502.03167")  # arXiv's details
    assert described.found is not None and not described.is_stored
    unknown = await resolve(resolver, "arXiv:2501.00001")  # arXiv knows none
    assert unknown.lookup_error is not None and unknown.note is not None
    by_doi = await resolve(resolver, "doi:10.1145/3065386")  # no arXiv id
    titled = resolver.new_titled("  A Paper   With Only a Title ")
    asked = len(server.requests)
    for resolved in (described, unknown, by_doi, titled):
        again = await resolved_from_json(resolved_to_json(resolved), papers, now=NOW)
        assert again == resolved
    assert len(server.requests) == asked  # nothing asked again

    # A stored paper comes back as stored now; gone, it is refused clearly.
    async with db.transaction() as conn:
        paper_id = await resolver.store(described, guild_id=GUILD, conn=conn)
    stored = ResolvedPaper(await papers.get(paper_id), ids=described.ids)  # type: ignore[arg-type]
    kept = resolved_to_json(stored)
    await papers.update(paper_id, venue="ICML")
    assert (await resolved_from_json(kept, papers, now=NOW)).paper.venue == "ICML"
    await db.executemany("DELETE FROM papers WHERE id = ?", [(paper_id,)])
    with pytest.raises(UserFacingError, match="no longer known"):
        await resolved_from_json(kept, papers, now=NOW)


async def test_a_draft_goes_from_the_picker_to_the_preview_under_one_id(
    db: Database, resolver: PaperResolver
) -> None:
    store = DraftStore(db, clock=lambda: NOW)
    draft = Draft(paper="Group Normalization", tldr="t", body="b" * 90_000, file_name="gn.md")
    pending = PendingChoice(draft, title="Group Normalization", offered=("arxiv:1803.08494", "new"))
    picker = await store.create(
        NEW_SUMMARY,
        owner_id=5,
        guild_id=GUILD,
        draft=draft,
        step="picker",
        pending=pending,
        lifetime=600,
    )
    found = await store.get(picker.id)
    assert found is not None and found.step == "picker"
    assert found.draft == draft and found.pending == pending and found.owner_id == 5
    claimed = await store.claim(picker.id)
    assert claimed is not None and await store.claim(picker.id) is None  # one at a time
    resolved = resolver.new_titled("Group Normalization")
    preview = await store.to_preview(claimed, draft, resolved, lifetime=840)
    assert preview.id == picker.id and preview.state.expires_at == NOW + 840
    again = await store.get(picker.id)
    assert again is not None and again.step == "preview" and again.state.busy_until is None
    assert await store.resolved(again) == resolved
    assert await store.finish(picker.id, "published #1")
    assert await store.claim(picker.id) is None


async def test_an_edit_draft_keeps_a_long_body_out_of_the_form(db: Database) -> None:
    store = DraftStore(db, clock=lambda: NOW)
    kept = await store.create(
        EDIT_SUMMARY,
        owner_id=1,
        guild_id=GUILD,
        draft=edit_draft("New TL;DR", None),
        summary_id=12,
        lifetime=60,
    )
    found = await store.get(kept.id)
    assert found is not None and found.keeps_body and found.summary_id == 12
    assert not found.draft.body and found.draft.body_from_file
    changed = await store.create(
        EDIT_SUMMARY,
        owner_id=1,
        guild_id=GUILD,
        draft=edit_draft("t", "New body."),
        summary_id=12,
        lifetime=60,
    )
    assert not changed.keeps_body and changed.draft.body == "New body."
    # States of other kinds are not drafts.
    other = await store.states.create(
        "results", owner_id=1, guild_id=1, payload={}, now=NOW, lifetime=60
    )
    assert await store.get(other.id) is None
