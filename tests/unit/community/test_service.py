"""Checking drafts and files (limits named, never cut), who may change a summary, the
rate-limit message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.community.arxiv import ArxivClient
from bot.community.ratelimit import SubmissionLimiter
from bot.community.resolve import PaperResolver, ResolvedPaper
from bot.community.service import (
    FILE_BODY_LIMIT_BYTES,
    CommunityService,
    Draft,
    PaperQuestion,
    PreparedDraft,
    clean_body,
    clean_tldr,
    read_summary_file,
)
from bot.community.title_search import TitleCandidates
from bot.community.votes import DOWN, UP
from bot.errors import UserFacingError
from bot.pacing import RequestSpacer
from bot.storage import Database
from tests.databases import DatabaseFactory
from tests.unit.storage.test_community import GUILD, OTHER_GUILD


def test_tldr_rules() -> None:
    assert clean_tldr("  A short\x00 TL;DR\u202e.  ") == "A short TL;DR."
    with pytest.raises(UserFacingError, match="at most 300 characters; yours has 301"):
        clean_tldr("x" * 301)
    with pytest.raises(UserFacingError, match="one paragraph"):
        clean_tldr("first\n\nsecond")
    with pytest.raises(UserFacingError, match="Write a TL;DR"):
        clean_tldr(" \n ")


def test_body_rules() -> None:
    assert clean_body("\n\n# Title\r\n\nText\x07\n") == "# Title\n\nText"
    with pytest.raises(UserFacingError, match="4,000 characters; yours has 4,001"):
        clean_body("y" * 4001)
    with pytest.raises(UserFacingError, match="Nothing was cut or saved"):
        clean_body("y" * 4001)


def test_files_are_checked_by_name_size_and_encoding() -> None:
    assert read_summary_file("notes.MD", 10) is None  # name and size only
    assert read_summary_file("notes.txt", 5, "\ufeffcafé".encode()) == "café"
    with pytest.raises(UserFacingError, match=r"\.md\) or text \(\.txt\)"):
        read_summary_file("notes.docx", 10)
    with pytest.raises(UserFacingError, match="at most 100 KB"):
        read_summary_file("big.md", FILE_BODY_LIMIT_BYTES + 1)
    with pytest.raises(UserFacingError, match="not UTF-8"):
        read_summary_file("latin.md", 4, "café".encode("latin-1"))
    with pytest.raises(UserFacingError, match="Write the summary"):
        read_summary_file("empty.md", 3, b"\n\n\n")
    # A file may hold far more than the form: up to the file limit, never cut.
    long_text = "z" * 50_000
    assert read_summary_file("long.md", 50_000, long_text.encode()) == long_text


@pytest.fixture
async def service(databases: DatabaseFactory) -> AsyncIterator[CommunityService]:
    db: Database = await databases.open()
    async with aiohttp.ClientSession() as session:
        # Never reached: these tests name papers by title or DOI.
        arxiv = ArxivClient(
            session, api_url="http://127.0.0.1:9/", min_interval=0, spacer=RequestSpacer()
        )
        yield CommunityService(
            db,
            PaperResolver(db, arxiv),
            limiter=SubmissionLimiter(db, 2, 600),
        )


async def publish(service: CommunityService, author: int, tldr: str = "t") -> int:
    prepared = await service.prepare(
        Draft(paper="doi:10.1145/3065386", tldr=tldr, body="b"), guild_id=GUILD, author_id=author
    )
    assert isinstance(prepared, PreparedDraft)
    result = await service.publish(
        prepared, guild_id=GUILD, author_id=author, author_name=f"member {author}"
    )
    return result.summary_id


async def test_who_may_change_a_summary(service: CommunityService) -> None:
    summary_id = await publish(service, 1)
    summary = await service.get_in_guild(summary_id, GUILD)
    with pytest.raises(UserFacingError, match="no community summary"):
        await service.get_in_guild(summary_id, GUILD + 1)
    with pytest.raises(UserFacingError, match="Only the summary's author"):
        await service.edit(summary, tldr="x", body=None, editor_id=2, is_moderator=False)
    await service.edit(summary, tldr="by a mod", body=None, editor_id=3, is_moderator=True)
    with pytest.raises(UserFacingError, match="Only the summary's author"):
        await service.delete(summary, member_id=2, is_moderator=False)
    await service.delete(summary, member_id=3, is_moderator=True)
    deleted = await service.get_in_guild(summary_id, GUILD)
    # The author may not undo a moderator's deletion; a moderator may.
    with pytest.raises(UserFacingError, match="Manage Messages"):
        await service.restore(deleted, member_id=1, is_moderator=False)
    with pytest.raises(UserFacingError, match="moderator removed your summary"):
        await publish(service, 1)
    await service.restore(deleted, member_id=3, is_moderator=True)
    restored = await service.get_in_guild(summary_id, GUILD)
    assert restored.tldr == "by a mod" and not restored.is_deleted
    # An author who deleted their own summary may restore it.
    await service.delete(restored, member_id=1, is_moderator=False)
    own = await service.get_in_guild(summary_id, GUILD)
    await service.restore(own, member_id=1, is_moderator=False)


async def test_rate_limit_message_names_the_limit(service: CommunityService) -> None:
    await service.acquire_rate(7)
    await service.acquire_rate(7)
    with pytest.raises(UserFacingError) as refused:
        await service.check_rate(7)
    assert "You can publish 2 summaries per 10 minutes" in refused.value.message
    assert "Try again in 10 minutes" in refused.value.message
    with pytest.raises(UserFacingError, match="Your preview stays here"):
        await service.acquire_rate(7)
    await service.check_rate(8)


async def test_a_released_publication_no_longer_counts(service: CommunityService) -> None:
    await service.acquire_rate(7)
    token = await service.acquire_rate(7)
    await service.release_rate(token)
    await service.check_rate(7)
    await service.acquire_rate(7)


async def test_a_vote_press_withdraws_or_switches(service: CommunityService) -> None:
    summary_id = await publish(service, 1)
    first = await service.vote(summary_id, 2, UP)
    assert (first.change.delta, first.score) == (1, 1)
    switched = await service.vote(summary_id, 2, DOWN)
    assert (switched.change.delta, switched.score) == (-2, -1)
    withdrawn = await service.vote(summary_id, 2, DOWN)
    assert withdrawn.change.withdrawn and withdrawn.score == 0
    assert await service.repo.vote_of(summary_id, 2) == 0


async def test_a_press_on_a_summary_removed_meanwhile_says_so(service: CommunityService) -> None:
    summary_id = await publish(service, 1)
    with pytest.raises(UserFacingError, match="no longer exists"):
        await service.vote(summary_id + 1000, 2, UP)
    assert (await service.vote(summary_id, 2, UP)).score == 1  # the batcher carries on


async def test_presses_at_once_lose_nothing_and_double_nothing(
    service: CommunityService,
) -> None:
    """Many members pressing at once all count, and one member's two presses at once (a
    double click reaching two processes) take turns: the second withdraws the first, on
    both engines (PostgreSQL runs the transactions side by side)."""
    summary_id = await publish(service, 1)
    await asyncio.gather(*(service.vote(summary_id, voter, UP) for voter in range(100, 150)))
    await asyncio.gather(service.vote(summary_id, 2, UP), service.vote(summary_id, 2, UP))
    assert await service.repo.vote_of(summary_id, 2) == 0
    assert (await service.repo.vote_counts(summary_id)) == (50, 0)
    summary = await service.get_in_guild(summary_id, GUILD)
    assert summary.score == 50


async def test_a_preview_stores_nothing_and_publish_stores_it_all(
    service: CommunityService,
) -> None:
    async def count(table: str) -> int:
        return int(await service.db.fetchval("SELECT count(*) FROM " + table))

    # A title nobody knows: a question (arXiv is unreachable here, and that is said), never
    # a paper stored on the way.
    asked = await service.prepare(
        Draft(paper="  A Memo   Nobody Else Has Seen ", tldr="t", body="b"),
        guild_id=GUILD,
        author_id=5,
    )
    assert isinstance(asked, PaperQuestion)
    assert asked.candidates.title == "A Memo Nobody Else Has Seen"
    assert asked.candidates.known == () and asked.candidates.found == ()
    assert asked.candidates.arxiv_problem is not None
    assert (await count("papers"), await count("summaries")) == (0, 0)
    for forged in ("known:abc", "known:1", "arxiv:1706.03762", ""):
        with pytest.raises(UserFacingError, match="not one I offered"):
            await service.answer(asked.pending, forged, guild_id=GUILD, author_id=5)
    prepared = await service.answer(asked.pending, "new", guild_id=GUILD, author_id=5)
    assert not prepared.resolved.is_stored and prepared.existing is None
    assert prepared.draft.paper == "A Memo Nobody Else Has Seen"
    assert (await count("papers"), await count("summaries")) == (0, 0)
    result = await service.publish(prepared, guild_id=GUILD, author_id=5, author_name="five")
    stored = await service.get_in_guild(result.summary_id, GUILD)
    assert stored.paper_title == "A Memo Nobody Else Has Seen"
    assert (await count("papers"), await count("summaries")) == (1, 1)

    # Now known here: the same title, in any case and spacing, is that paper at once.
    again = await service.prepare(
        Draft(paper="a memo nobody else HAS seen", tldr="t2", body="b"),
        guild_id=GUILD,
        author_id=6,
    )
    assert isinstance(again, PreparedDraft) and again.resolved.paper.id == stored.paper_id
    # Editing a preview keeps its paper when the paper field is unchanged; a new title asks.
    kept = await service.prepare(
        Draft(paper=prepared.draft.paper, tldr="t3", body="b"),
        guild_id=GUILD,
        author_id=5,
        previous=prepared,
    )
    assert isinstance(kept, PreparedDraft) and kept.resolved is prepared.resolved
    changed = await service.prepare(
        Draft(paper="Another Memo Entirely", tldr="t3", body="b"),
        guild_id=GUILD,
        author_id=5,
        previous=prepared,
    )
    assert isinstance(changed, PaperQuestion)
    assert await count("papers") == 1


async def test_a_typed_paper_is_an_identifiers_paper_a_title_known_here_or_a_question(
    service: CommunityService,
) -> None:
    """What `/reading start paper:` resolves: the same decisions as a draft's paper field."""
    resolver, titles = service.resolver, service.titles
    doi = await resolver.resolve_typed("https://doi.org/10.1145/3065386", titles, guild_id=GUILD)
    assert isinstance(doi, ResolvedPaper) and doi.paper.doi == "10.1145/3065386"
    title = "A Memo Nobody Else Has Seen"
    asked = await resolver.resolve_typed(title, titles, guild_id=GUILD)
    assert isinstance(asked, TitleCandidates) and asked.title == title
    question = await service.prepare(
        Draft(paper=title, tldr="t", body="b"), guild_id=GUILD, author_id=5
    )
    assert isinstance(question, PaperQuestion)
    prepared = await service.answer(question.pending, "new", guild_id=GUILD, author_id=5)
    result = await service.publish(prepared, guild_id=GUILD, author_id=5, author_name="five")
    stored = await service.get_in_guild(result.summary_id, GUILD)
    # Known in this server now, in any case and spacing; another server still asks.
    known = await resolver.resolve_typed("  a memo NOBODY else has seen", titles, guild_id=GUILD)
    assert isinstance(known, ResolvedPaper) and known.paper.id == stored.paper_id
    elsewhere = await resolver.resolve_typed(title, titles, guild_id=OTHER_GUILD)
    assert isinstance(elsewhere, TitleCandidates) and elsewhere.known == ()
    with pytest.raises(UserFacingError, match="doesn't look like a paper"):
        await resolver.resolve_typed("arXiv:1513.00001", titles, guild_id=GUILD)


async def test_presses_in_two_processes_at_once_lose_nothing_and_double_nothing(
    postgres_databases: DatabaseFactory,
) -> None:
    """Two bot processes (two pools on one PostgreSQL database) each batching their members'
    presses on two summaries, one member pressing 👍 once in each process: every press
    counts once, the batches never deadlock, the member's two presses take turns."""
    url = await postgres_databases.url()
    first_db = await postgres_databases.open_url(url)
    second_db = await postgres_databases.open_url(url)
    async with aiohttp.ClientSession() as session:
        arxiv = ArxivClient(
            session, api_url="http://127.0.0.1:9/", min_interval=0, spacer=RequestSpacer()
        )
        services = [
            CommunityService(db, PaperResolver(db, arxiv), limiter=SubmissionLimiter(db, 9, 600))
            for db in (first_db, second_db)
        ]
        hot, other = await publish(services[0], 1), await publish(services[0], 2)
        presses = [
            services[voter % 2].vote(summary_id, voter, UP)
            for voter in range(100, 300)
            for summary_id in (other, hot)  # out of id order: each batch locks them in order
        ]
        presses += [services[0].vote(hot, 7, UP), services[1].vote(hot, 7, UP)]
        await asyncio.gather(*presses)
        assert await services[0].repo.vote_of(hot, 7) == 0
        for summary_id in (hot, other):
            assert await services[1].repo.vote_counts(summary_id) == (200, 0)
            summary = await services[1].get_in_guild(summary_id, GUILD)
            assert summary.score == 200
        assert max(services[0].presses.batch_sizes) > 1  # batched, not one by one
