"""Community storage: one summary per (paper, author, guild), soft deletion, votes and the
score trigger, reading-session links, the leaderboard, arXiv look-up state."""

from __future__ import annotations

import pytest

from bot.community.votes import DOWN, UP
from bot.papers import PaperId
from bot.storage import Connection, Database
from bot.storage.community import (
    CommunityRepository,
    RemovedByModeratorError,
    SaveResult,
    VotePress,
    VotePressRequest,
)
from bot.storage.lookups import DueLookup, LookupCounts, LookupQueue
from bot.storage.papers import PaperDetails, PaperRepository
from bot.storage.reading import ReadingRepository, SessionAlreadyOpenError
from tests.databases import DatabaseFactory

GUILD = 1000
OTHER_GUILD = 2000
NOW = 1_700_000_000.0


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


async def make_paper(db: Database, arxiv_id: str = "1502.03167", title: str = "Batch Norm") -> int:
    paper = await PaperRepository(db).find_or_create(
        [PaperId(kind="arxiv", value=arxiv_id)], title=title, authors="Ioffe, Szegedy"
    )
    return paper.id


async def add_feed_summary(db: Database, paper_id: int) -> int:
    async with db.transaction() as conn:
        return int(
            await conn.fetchval(
                "INSERT INTO summaries (paper_id, origin, title, body) "
                "VALUES (?, 'feed', 't', 'b') RETURNING id",
                (paper_id,),
            )
        )


async def save(
    repo: CommunityRepository,
    paper_id: int,
    author_id: int,
    *,
    guild_id: int = GUILD,
    tldr: str = "short",
    body: str = "long",
    now: float = NOW,
    on_saved=None,
):
    return await repo.save(
        paper_id=paper_id,
        guild_id=guild_id,
        author_id=author_id,
        author_name=f"member{author_id}",
        title="Batch Norm",
        tldr=tldr,
        body=body,
        now=now,
        on_saved=on_saved,
    )


async def test_resubmission_edits_the_same_summary(db: Database) -> None:
    repo = CommunityRepository(db)
    paper = await make_paper(db)
    first = await save(repo, paper, 1, tldr="v1")
    second = await save(repo, paper, 1, tldr="v2", now=NOW + 60)
    assert first.created and not second.created
    assert first.summary_id == second.summary_id
    stored = await repo.get(first.summary_id)
    assert stored is not None and stored.tldr == "v2" and stored.edited_at == NOW + 60
    assert stored.created_at == NOW
    # Another author, or the same author in another guild, gets a summary of their own.
    assert (await save(repo, paper, 2)).created
    assert (await save(repo, paper, 1, guild_id=OTHER_GUILD)).created
    assert await db.fetchval("SELECT count(*) FROM summaries") == 3


async def test_the_saved_hook_runs_in_the_transaction(db: Database) -> None:
    repo = CommunityRepository(db)
    paper = await make_paper(db)
    calls: list[tuple[int, bool]] = []

    async def hook(conn: Connection, result: SaveResult) -> None:
        assert conn.in_transaction
        calls.append((result.summary_id, result.created))

    result = await save(repo, paper, 1, on_saved=hook)
    await save(repo, paper, 1, on_saved=hook, tldr="edited")
    assert calls == [(result.summary_id, True), (result.summary_id, False)]

    async def failing(conn: Connection, result: SaveResult) -> None:
        raise RuntimeError("card could not be queued")

    with pytest.raises(RuntimeError):
        await save(repo, paper, 2, on_saved=failing)
    # The summary and what the hook would have written go together, or neither does.
    assert await repo.find_by_author(paper_id=paper, guild_id=GUILD, author_id=2) is None

    async def failing_update(conn: Connection) -> None:
        raise RuntimeError("card could not be queued")

    with pytest.raises(RuntimeError):
        await repo.update_text(
            result.summary_id, tldr="new", body="b", editor_id=1, now=NOW, on_updated=failing_update
        )
    stored = await repo.get(result.summary_id)
    assert stored is not None and stored.tldr == "edited"


async def test_soft_delete_restore_and_revive(db: Database) -> None:
    repo = CommunityRepository(db)
    paper = await make_paper(db)
    summary_id = (await save(repo, paper, 1)).summary_id
    assert await repo.soft_delete(summary_id, deleted_by=1, now=NOW + 1)
    assert not await repo.soft_delete(summary_id, deleted_by=1, now=NOW + 2)
    deleted = await repo.get(summary_id)
    assert deleted is not None and deleted.is_deleted and deleted.deleted_by == 1
    # The author deleted it: writing again brings it back with the new text.
    revived = await save(repo, paper, 1, tldr="back")
    assert revived.revived and revived.summary_id == summary_id
    # A moderator deleted it: only a moderator brings it back.
    assert await repo.soft_delete(summary_id, deleted_by=99, now=NOW + 3)
    with pytest.raises(RemovedByModeratorError):
        await save(repo, paper, 1, tldr="sneaky")
    assert await repo.restore(summary_id)
    assert not await repo.restore(summary_id)
    restored = await repo.get(summary_id)
    assert restored is not None and not restored.is_deleted and restored.tldr == "back"


async def test_update_text_refuses_deleted(db: Database) -> None:
    repo = CommunityRepository(db)
    summary_id = (await save(repo, await make_paper(db), 1)).summary_id
    assert await repo.update_text(summary_id, tldr="t", body="b", editor_id=99, now=NOW + 5)
    stored = await repo.get(summary_id)
    assert stored is not None and (stored.tldr, stored.body, stored.edited_by) == ("t", "b", 99)
    await repo.soft_delete(summary_id, deleted_by=1, now=NOW + 6)
    assert not await repo.update_text(summary_id, tldr="x", body="y", editor_id=1, now=NOW + 7)


async def test_votes_keep_the_score(db: Database) -> None:
    repo = CommunityRepository(db)
    summary_id = (await save(repo, await make_paper(db), 1)).summary_id
    assert await repo.set_vote(summary_id, 2, UP, now=NOW) == 1
    assert await repo.set_vote(summary_id, 3, UP, now=NOW) == 2
    assert await repo.set_vote(summary_id, 3, DOWN, now=NOW) == 0
    assert await repo.set_vote(summary_id, 2, 0, now=NOW) == -1  # withdrawn
    assert await repo.vote_of(summary_id, 2) == 0
    assert await repo.vote_of(summary_id, 3) == DOWN
    assert await repo.vote_counts(summary_id) == (0, 1)
    recount = await db.fetchval(
        "SELECT COALESCE(sum(value), 0) FROM summary_votes WHERE summary_id = ?", (summary_id,)
    )
    assert await db.fetchval("SELECT score FROM summaries WHERE id = ?", (summary_id,)) == recount
    with pytest.raises(ValueError, match="-1, 0 or \\+1"):
        await repo.set_vote(summary_id, 2, 2, now=NOW)
    with pytest.raises(LookupError):
        await repo.set_vote(summary_id + 100, 2, 0, now=NOW)


async def test_presses_change_each_vote_as_told_for_the_current_one(db: Database) -> None:
    """`press_votes` applies what the caller decided for each current vote (a toggle here),
    in order and in one transaction, and returns each vote before and after and the score
    after it; None for a summary that does not exist. On PostgreSQL, one statement
    (`press_summary_votes`)."""
    repo = CommunityRepository(db)
    paper = await make_paper(db)
    first_id = (await save(repo, paper, 1)).summary_id
    second_id = (await save(repo, paper, 2)).summary_id
    toggle_up: dict[int, int] = {0: UP, UP: 0, DOWN: UP}
    await repo.set_vote(first_id, 3, DOWN, now=NOW)
    stored = await repo.press_votes(
        [
            VotePressRequest(second_id, 2, toggle_up),  # out of summary order: kept in order
            VotePressRequest(first_id, 2, toggle_up),
            VotePressRequest(first_id, 3, toggle_up),  # switched from 👎
            VotePressRequest(first_id + 1000, 2, toggle_up),  # no such summary
            VotePressRequest(first_id, 2, toggle_up),  # the same member again: withdrawn
        ],
        now=NOW + 1,
    )
    assert stored == [
        VotePress(previous=0, new=UP, score=1),
        VotePress(previous=0, new=UP, score=0),
        VotePress(previous=DOWN, new=UP, score=2),
        None,
        VotePress(previous=UP, new=0, score=1),
    ]
    assert await repo.vote_counts(first_id) == (1, 0)
    assert await repo.vote_counts(second_id) == (1, 0)
    assert await repo.press_votes([], now=NOW) == []
    with pytest.raises(ValueError, match="-1, 0 or \\+1"):
        await repo.press_votes([VotePressRequest(first_id, 2, {0: 2, UP: 0, DOWN: 0})], now=NOW)


async def test_leaderboard_counts_summaries_and_votes_in_the_period(db: Database) -> None:
    repo = CommunityRepository(db)
    paper_a = await make_paper(db)
    paper_b = await make_paper(db, "1706.03762", "Attention")
    old = (await save(repo, paper_a, 1, now=NOW - 40 * 86400)).summary_id
    new = (await save(repo, paper_b, 1, now=NOW)).summary_id
    other = (await save(repo, paper_a, 2, now=NOW)).summary_id
    await repo.set_vote(old, 5, UP, now=NOW - 40 * 86400)
    await repo.set_vote(new, 5, UP, now=NOW)
    await repo.set_vote(new, 6, UP, now=NOW)
    await repo.set_vote(other, 5, DOWN, now=NOW)
    await save(repo, paper_a, 3, guild_id=OTHER_GUILD)  # never counted here
    everything = await repo.leaderboard(GUILD, since=None)
    assert [(r.member_id, r.summaries, r.votes) for r in everything] == [(1, 2, 3), (2, 1, -1)]
    month = await repo.leaderboard(GUILD, since=NOW - 30 * 86400)
    assert [(r.member_id, r.summaries, r.votes) for r in month] == [(1, 1, 2), (2, 1, -1)]
    assert month[0].name == "member1"


async def test_list_for_author_and_export_rows(db: Database) -> None:
    repo = CommunityRepository(db)
    paper = await make_paper(db)
    kept = (await save(repo, paper, 1)).summary_id
    gone = (await save(repo, await make_paper(db, "1706.03762", "Attention"), 1)).summary_id
    await repo.soft_delete(gone, deleted_by=1, now=NOW + 1)
    mine = await repo.list_for_author(guild_id=GUILD, author_id=1)
    assert {s.id for s in mine} == {kept, gone}
    assert [s.id for s in await repo.for_export(GUILD)] == [kept]
    assert await repo.for_export(OTHER_GUILD) == []


async def test_titled_papers_are_found_by_title_among_the_visible_ones(db: Database) -> None:
    papers = PaperRepository(db)
    first = await papers.find_or_create_titled("A Paper Without Ids", guild_id=GUILD, now=NOW)
    await save(CommunityRepository(db), first, 1)  # now visible in GUILD
    again = await papers.find_or_create_titled("a paper without ids", guild_id=GUILD, now=NOW)
    assert again == first
    # Another server gets the same row (one key per title), and sees it only once it has
    # written about it itself.
    assert await papers.find_visible_by_title("A Paper Without Ids", guild_id=OTHER_GUILD) is None
    elsewhere = await papers.find_or_create_titled(
        "A PAPER WITHOUT IDS", guild_id=OTHER_GUILD, now=NOW
    )
    assert elsewhere == first
    # A paper every server sees (from a feed) is found by its title.
    feed_paper = await make_paper(db, "1706.03762", "Attention Is All You Need")
    await add_feed_summary(db, feed_paper)
    found = await papers.find_or_create_titled(
        "attention is all you need", guild_id=OTHER_GUILD, now=NOW
    )
    assert found == feed_paper


async def test_lookup_state(db: Database) -> None:
    repo = CommunityRepository(db)
    queue = LookupQueue(db, "arxiv")
    paper = await PaperRepository(db).find_or_create([PaperId(kind="arxiv", value="2101.00001")])
    # A paper with an arXiv id is queued for a look-up as soon as it exists (trigger).
    assert await queue.due(NOW, limit=10) == [DueLookup(paper.id, "2101.00001", 0)]
    await repo.mark_lookup_pending(paper.id, "2101.00001", error="timeout", next_attempt_at=NOW)
    assert await repo.lookup_status(paper.id) == "pending"
    assert await queue.due(NOW, limit=10) == [DueLookup(paper.id, "2101.00001", 1)]
    assert await queue.due(NOW - 1, limit=10) == []
    await queue.record_failure(paper.id, error="again", next_attempt_at=NOW + 100)
    assert (await queue.due(NOW + 100, limit=10))[0].attempts == 2
    assert await queue.next_due_at() == NOW + 100
    details = PaperDetails(
        ids=(PaperId(kind="arxiv", value="2101.00001"),),
        title="Found",
        authors="A. Author",
        abstract="Text",
        year=2021,
        url="https://arxiv.org/abs/2101.00001",
        published="2021-01-01",
        categories="cs.LG stat.ML",
    )
    await repo.apply_arxiv_metadata(paper.id, "2101.00001", details, now=NOW)
    assert await repo.lookup_status(paper.id) == "resolved"
    assert await queue.counts() == LookupCounts(resolved=1)
    stored = await PaperRepository(db).get(paper.id)
    assert stored is not None and (stored.title, stored.year) == ("Found", 2021)
    assert stored.published == "2021-01-01" and stored.categories == ("cs.LG", "stat.ML")
    # A resolved paper does not go back to pending.
    await repo.mark_lookup_pending(paper.id, "2101.00001", error="x", next_attempt_at=NOW)
    assert await repo.lookup_status(paper.id) == "resolved"
    # Given up after the last attempt.
    other = await PaperRepository(db).find_or_create([PaperId(kind="arxiv", value="2101.00002")])
    await queue.record_failure(other.id, error="gone", next_attempt_at=None)
    assert await queue.status(other.id) == "failed"


async def test_reading_sessions_link_submissions(db: Database) -> None:
    repo = CommunityRepository(db)
    reading = ReadingRepository(db)
    paper = await make_paper(db)
    before = (await save(repo, paper, 1)).summary_id  # written before the session: not counted
    session = await reading.create(
        guild_id=GUILD,
        paper_id=paper,
        channel_id=10,
        thread_id=11,
        started_by=1,
        started_at=NOW,
        due_at=NOW + 3 * 86400,
    )
    with pytest.raises(SessionAlreadyOpenError):
        await reading.create(
            guild_id=GUILD,
            paper_id=paper,
            channel_id=10,
            thread_id=12,
            started_by=1,
            started_at=NOW,
            due_at=None,
        )
    during = (await save(repo, paper, 2, now=NOW + 10)).summary_id
    await save(repo, paper, 3, guild_id=OTHER_GUILD, now=NOW + 10)
    await repo.set_vote(during, 1, UP, now=NOW + 20)
    submissions = await reading.submissions(session.id)
    assert [(s.summary_id, s.score) for s in submissions] == [(during, 1)]
    # Rewriting an older summary during the session counts it.
    await save(repo, paper, 1, tldr="rewritten", now=NOW + 30)
    assert {s.summary_id for s in await reading.submissions(session.id)} == {before, during}
    assert (await reading.by_thread(11)) == session
    assert [s.id for s in await reading.open_in_guild(GUILD)] == [session.id]


async def test_reminders_are_due_once_a_day_before(db: Database) -> None:
    reading = ReadingRepository(db)
    paper = await make_paper(db)
    due = NOW + 3 * 86400
    session = await reading.create(
        guild_id=GUILD,
        paper_id=paper,
        channel_id=10,
        thread_id=11,
        started_by=1,
        started_at=NOW,
        due_at=due,
    )
    assert await reading.next_reminder_at() == due - 86400
    assert await reading.due_reminders(due - 86400 - 1) == []
    assert [s.id for s in await reading.due_reminders(due - 86400)] == [session.id]
    await reading.mark_reminded(session.id, message_id=5, now=due - 86400)
    assert await reading.due_reminders(due - 100) == []
    # A session due within a day of its start gets no reminder.
    short = await reading.create(
        guild_id=GUILD,
        paper_id=await make_paper(db, "1706.03762", "Attention"),
        channel_id=10,
        thread_id=12,
        started_by=1,
        started_at=NOW,
        due_at=NOW + 3600,
    )
    assert await reading.due_reminders(NOW + 60) == []
    assert await reading.close(short.id, closed_by=1, now=NOW + 100)
    assert not await reading.close(short.id, closed_by=1, now=NOW + 101)


async def test_known_papers_reads_the_paper_its_lookup_and_the_authors_own_summary(
    db: Database,
) -> None:
    repo = CommunityRepository(db)
    first = await make_paper(db, "1502.03167")
    second = await make_paper(db, "1706.03762", title="Attention")
    await LookupQueue(db, "arxiv").mark_resolved(first, "1502.03167", now=NOW)
    own = await save(repo, first, author_id=7)
    await save(repo, second, author_id=8)  # someone else's
    await save(repo, second, author_id=7, guild_id=OTHER_GUILD)  # another server's
    ids = [PaperId("arxiv", "1706.03762"), PaperId("arxiv", "1502.03167")]

    known = await repo.known_papers(ids, guild_id=GUILD, author_id=7)

    assert [item.paper.id for item in known] == [second, first]  # in the order of the ids
    assert [item.arxiv_status for item in known] == ["pending", "resolved"]
    assert [item.own_summary_id for item in known] == [None, own.summary_id]
    anonymous = await repo.known_papers(ids, guild_id=None, author_id=None)
    assert [item.own_summary_id for item in anonymous] == [None, None]
    assert await repo.known_papers([PaperId("doi", "10.1/none")], guild_id=1, author_id=1) == []
