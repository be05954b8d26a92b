"""Writing community summaries: checking drafts, publishing, editing, deleting, restoring.

Everything here is Discord-free so it can be tested directly; the cog turns `UserFacingError`
into ephemeral messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from bot.announce.community import SummaryCard
from bot.announce.messages import edited_headline, published_headline
from bot.batching import Batcher
from bot.community.ratelimit import SubmissionLimiter, describe_wait
from bot.community.resolve import (
    PaperResolver,
    ResolvedPaper,
    normalise_title,
    paper_display_title,
    read_paper_input,
)
from bot.community.title_search import (
    TitleCandidates,
    TitleFinder,
    paper_options,
)
from bot.community.votes import DOWN, NONE, UP, VoteOutcome, VoteValue, press, vote_value
from bot.errors import UserFacingError
from bot.papers import PaperId
from bot.rendering.text import clean_user_text, plural
from bot.search import SearchService
from bot.storage.community import (
    CommunityRepository,
    CommunitySummary,
    RemovedByModeratorError,
    SaveResult,
    VotePress,
    VotePressRequest,
)
from bot.storage.database import Connection, Database
from bot.storage.papers import PaperRepository

log = logging.getLogger(__name__)

TLDR_LIMIT = 300
BODY_LIMIT = 4000  # what a modal's text input holds
FILE_BODY_LIMIT_BYTES = 100 * 1024
FILE_EXTENSIONS = (".md", ".markdown", ".txt")
AUTHOR_NAME_LIMIT = 100

# Queues a summary's card (and its announcement) inside the transaction that saved it.
CardHook = Callable[[Connection, SummaryCard], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Draft:
    """What a member wrote, before it is stored."""

    paper: str
    tldr: str
    body: str
    file_name: str | None = None  # the body came from this attached file

    @property
    def body_from_file(self) -> bool:
        return self.file_name is not None


@dataclass(frozen=True, slots=True)
class PreparedDraft:
    """A checked draft with its paper, and the author's existing summary of it, if any."""

    draft: Draft
    resolved: ResolvedPaper
    existing: CommunitySummary | None

    @property
    def is_resubmission(self) -> bool:
        return self.existing is not None


@dataclass(frozen=True, slots=True)
class PaperQuestion:
    """A checked draft whose paper field holds a title that names no single known paper:
    the member picks what it means (`CommunityService.answer`)."""

    draft: Draft
    candidates: TitleCandidates

    @property
    def pending(self) -> PendingChoice:
        """What must be kept until the member chooses (see `PendingChoice`)."""
        return PendingChoice(
            draft=self.draft,
            title=self.candidates.title,
            offered=tuple(option.value for option in paper_options(self.candidates)),
        )


@dataclass(frozen=True, slots=True)
class PendingChoice:
    """A question of which paper, as kept while the member chooses (in the database, so
    that any bot process takes the answer): the draft, the title typed, and the values of
    the options offered."""

    draft: Draft
    title: str
    offered: tuple[str, ...]


def check_length(name: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise UserFacingError(
            f"The {name} takes at most {limit:,} characters; yours has {len(text):,}. Nothing "
            "was cut or saved: shorten it and submit again."
        )


def clean_tldr(text: str) -> str:
    tldr = clean_user_text(text).strip()
    if not tldr:
        raise UserFacingError("Write a TL;DR: one paragraph saying what the paper does.")
    check_length("TL;DR", tldr, TLDR_LIMIT)
    if "\n\n" in tldr.replace("\r", ""):
        raise UserFacingError("The TL;DR is one paragraph: remove the blank lines.")
    return tldr


def clean_body(text: str, *, limit: int = BODY_LIMIT) -> str:
    body = clean_user_text(text).strip("\n")
    if not body.strip():
        raise UserFacingError("Write the summary itself (or attach it as a .md or .txt file).")
    check_length("summary", body, limit)
    return body


def read_summary_file(file_name: str, size: int, data: bytes | None = None) -> str | None:
    """Check an attached summary file; with `data`, decode and clean it.

    Call it once before downloading (`data` None, only name and size are checked) and once
    after. Raises `UserFacingError` naming the rule that was broken.
    """
    suffix = PurePosixPath(file_name.lower()).suffix
    if suffix not in FILE_EXTENSIONS:
        raise UserFacingError(
            "Attach the summary as a Markdown (.md) or text (.txt) file; "
            f"{file_name[:80]!r} is neither."
        )
    limit_kb = FILE_BODY_LIMIT_BYTES // 1024
    if size > FILE_BODY_LIMIT_BYTES:
        raise UserFacingError(
            f"A summary file may be at most {limit_kb} KB; {file_name[:80]!r} is "
            f"{size / 1024:,.0f} KB. Nothing was cut: split it or shorten it."
        )
    if data is None:
        return None
    if len(data) > FILE_BODY_LIMIT_BYTES:
        raise UserFacingError(f"A summary file may be at most {limit_kb} KB.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserFacingError(
            f"{file_name[:80]!r} is not UTF-8 text (a byte at position {exc.start} can't be "
            "read). Save it as UTF-8 and attach it again."
        ) from exc
    text = text.removeprefix("\ufeff")
    return clean_body(text, limit=FILE_BODY_LIMIT_BYTES)


def summary_title(resolved: ResolvedPaper) -> str:
    """What the summary row stores as its title (shown while the paper has none)."""
    return resolved.display_title


class CommunityService:
    def __init__(
        self,
        db: Database,
        resolver: PaperResolver,
        *,
        limiter: SubmissionLimiter,
        cards: CardHook | None = None,
        clock: Callable[[], float] = time.time,
        search: SearchService | None = None,
    ) -> None:
        self.db = db
        self.resolver = resolver
        self.repo = CommunityRepository(db)
        self.papers = PaperRepository(db)
        self.titles = TitleFinder(self.papers, resolver.arxiv, search)
        self.limiter = limiter
        self.cards = cards
        self.clock = clock
        # Presses arriving while others are being stored go together in one transaction (one
        # statement on PostgreSQL): many members voting at once do not wait for a commit each.
        self.presses: Batcher[VotePressRequest, VotePress | None] = Batcher(
            "vote presses", self._store_presses
        )

    # --- rate limit ------------------------------------------------------------------------

    def _limit_message(self, wait: float) -> str:
        window = describe_wait(self.limiter.window)
        return (
            f"You can publish {plural(self.limiter.limit, 'summary')} per {window}, and "
            f"you've reached that. Try again in {describe_wait(wait)}."
        )

    async def check_rate(self, member_id: int) -> None:
        """Refuse before a member starts writing when they could not publish anyway."""
        wait = await self.limiter.check(member_id)
        if wait > 0:
            raise UserFacingError(self._limit_message(wait))

    async def acquire_rate(self, member_id: int) -> str:
        """Count a publication of `member_id` against the limit (in every process); the
        token it returns takes it back (`release_rate`) if publishing fails."""
        recorded = await self.limiter.acquire(member_id)
        if recorded.token is None:
            raise UserFacingError(
                self._limit_message(recorded.wait) + " Your preview stays here: press Publish then."
            )
        return recorded.token

    async def release_rate(self, token: str) -> None:
        await self.limiter.release(token)

    # --- drafts ----------------------------------------------------------------------------

    def check_draft(self, draft: Draft) -> Draft:
        """The draft with its text cleaned, or `UserFacingError` naming the broken limit."""
        tldr = clean_tldr(draft.tldr)
        body = draft.body if draft.body_from_file else clean_body(draft.body)
        return replace(draft, tldr=tldr, body=body)

    async def prepare(
        self,
        draft: Draft,
        *,
        guild_id: int,
        author_id: int,
        previous: PreparedDraft | None = None,
    ) -> PreparedDraft | PaperQuestion:
        """Check the text and find the paper (maybe on arXiv) and the author's earlier
        summary of it; or, for a title that names no single known paper, the question of
        which paper it means.

        `previous` is the preview this draft edits: when the paper field is unchanged, its
        paper stands (the member already chose it)."""
        draft = self.check_draft(draft)
        if previous is not None and normalise_title(draft.paper) == normalise_title(
            previous.draft.paper
        ):
            return await self.with_paper(
                draft, previous.resolved, guild_id=guild_id, author_id=author_id
            )
        named = read_paper_input(draft.paper)
        if isinstance(named, PaperId):
            # The paper, its arXiv state and the author's own summary of it in one read.
            known = await self.repo.known_papers(
                named.equivalent_ids, guild_id=guild_id, author_id=author_id
            )
            resolved = await self.resolver.resolve_id(named, known=known)
            read_none = (
                bool(known)
                and known[0].paper.id == resolved.paper.id
                and known[0].own_summary_id is None
            )
            return await self.with_paper(
                draft,
                resolved,
                guild_id=guild_id,
                author_id=author_id,
                may_have_own_summary=not read_none,
            )
        found = await self.resolver.resolve_title(named, self.titles, guild_id=guild_id)
        if isinstance(found, TitleCandidates):
            return PaperQuestion(draft=draft, candidates=found)
        return await self.with_paper(draft, found, guild_id=guild_id, author_id=author_id)

    async def answer(
        self, pending: PendingChoice, choice: str, *, guild_id: int, author_id: int
    ) -> PreparedDraft:
        """The draft with the paper the member picked (one of the `paper_options` values
        offered). The draft's paper field becomes the paper's identifier (or title), so that
        editing it keeps the choice."""
        if choice not in pending.offered:
            raise UserFacingError("That choice is not one I offered: pick from the list.")
        resolved = await self.resolver.resolve_choice(
            choice, title=pending.title, guild_id=guild_id
        )
        ids = resolved.paper.ids
        named = ids[0].display if ids else paper_display_title(resolved.paper)
        draft = replace(pending.draft, paper=named)
        return await self.with_paper(draft, resolved, guild_id=guild_id, author_id=author_id)

    async def with_paper(
        self,
        draft: Draft,
        resolved: ResolvedPaper,
        *,
        guild_id: int,
        author_id: int,
        may_have_own_summary: bool = True,
    ) -> PreparedDraft:
        """A checked draft with its paper, and the author's existing summary of it (a draft
        kept between steps is prepared again this way, with what is stored now).
        `may_have_own_summary=False`: the caller has just read that there is none."""
        existing = None
        # A paper not stored yet has no summaries.
        if resolved.is_stored and may_have_own_summary:
            existing = await self.repo.find_by_author(
                paper_id=resolved.paper.id, guild_id=guild_id, author_id=author_id
            )
        if existing is not None and existing.is_deleted and existing.deleted_by != author_id:
            raise _removed_by_moderator(existing.id)
        return PreparedDraft(draft=draft, resolved=resolved, existing=existing)

    async def publish(
        self,
        prepared: PreparedDraft,
        *,
        guild_id: int,
        author_id: int,
        author_name: str,
        channel_id: int | None = None,
    ) -> SaveResult:
        """Store the paper when new, and the summary (or edit the author's existing one);
        queue its card for `channel_id` (where it was written; None when the bot cannot post
        there) and, when new, its announcement. All in one transaction: published entirely,
        or not at all."""

        async def on_saved(conn: Connection, result: SaveResult) -> None:
            if self.cards is None:
                return
            headline = published_headline(
                author_id, created=result.created, paper_pending=prepared.resolved.pending
            )
            card = SummaryCard(
                summary_id=result.summary_id,
                guild_id=guild_id,
                channel_id=channel_id,
                headline=headline,
                announce=result.created,
            )
            await self.cards(conn, card)

        async def publish(conn: Connection) -> SaveResult:
            # Database work only, so it can run again when it lost a race with another
            # transaction (the paper stored by someone else meanwhile, on PostgreSQL).
            paper_id = await self.resolver.store(prepared.resolved, guild_id=guild_id, conn=conn)
            return await self.repo.save(
                paper_id=paper_id,
                guild_id=guild_id,
                author_id=author_id,
                author_name=clean_user_text(author_name)[:AUTHOR_NAME_LIMIT] or "Anonymous",
                title=summary_title(prepared.resolved),
                tldr=prepared.draft.tldr,
                body=prepared.draft.body,
                now=self.clock(),
                on_saved=on_saved,
                conn=conn,
            )

        try:
            result = await self.db.run_transaction(publish)
        except RemovedByModeratorError as exc:
            raise _removed_by_moderator(exc.summary_id) from exc
        log.info(
            "Community summary %d %s (guild %d, author %d)",
            result.summary_id,
            "created" if result.created else "edited",
            guild_id,
            author_id,
        )
        return result

    # --- votes -----------------------------------------------------------------------------

    async def vote(self, summary_id: int, voter_id: int, pressed: VoteValue) -> VoteOutcome:
        """Apply one press of 👍 (+1) or 👎 (-1) atomically: pressing your current vote's
        button withdraws it, the other one switches it."""
        # Two presses of one member at once (two processes, PostgreSQL) take turns: the
        # second reads the vote the first left, so a press is never lost.
        request = VotePressRequest(
            summary_id,
            voter_id,
            {current: press(current, pressed).new for current in (NONE, UP, DOWN)},
        )
        stored = await self.presses.submit(request)
        if stored is None:  # removed for good since the button was drawn
            raise UserFacingError("This summary no longer exists.")
        change = press(vote_value(stored.previous), pressed)
        return VoteOutcome(change=change, score=stored.score)

    async def _store_presses(self, presses: Sequence[VotePressRequest]) -> list[VotePress | None]:
        """A batch of presses in one transaction, run again when the engine asks (a
        deadlock with another kind of transaction on PostgreSQL: nothing of it was stored)."""
        return await self.db.run_retried(lambda: self.repo.press_votes(presses, now=self.clock()))

    # --- changing a stored summary ---------------------------------------------------------

    async def get_in_guild(self, summary_id: int, guild_id: int) -> CommunitySummary:
        """A community summary of this guild (deleted ones too), or 'not found'.

        Other guilds' summaries are reported exactly like missing ones.
        """
        summary = await self.repo.get(summary_id)
        if summary is None or summary.guild_id != guild_id:
            raise UserFacingError(f"There is no community summary #{summary_id} in this server.")
        return summary

    @staticmethod
    def require_can_change(
        summary: CommunitySummary, member_id: int, *, is_moderator: bool
    ) -> None:
        if member_id != summary.author_id and not is_moderator:
            raise UserFacingError(
                "Only the summary's author, or members with the Manage Messages permission, "
                "can change it."
            )

    async def edit(
        self,
        summary: CommunitySummary,
        *,
        tldr: str,
        body: str | None,
        editor_id: int,
        is_moderator: bool,
        channel_id: int | None = None,
    ) -> None:
        """Replace the text (`body` None keeps the current one); in the same transaction,
        queue the edited summary's card for `channel_id` (None: no card)."""
        self.require_can_change(summary, editor_id, is_moderator=is_moderator)
        tldr = clean_tldr(tldr)
        new_body = summary.body if body is None else clean_body(body)

        async def on_updated(conn: Connection) -> None:
            if self.cards is None or channel_id is None:
                return
            headline = edited_headline(
                editor_id, summary.id, by_author=editor_id == summary.author_id
            )
            card = SummaryCard(summary.id, summary.guild_id, channel_id, headline, announce=False)
            await self.cards(conn, card)

        if not await self.repo.update_text(
            summary.id,
            tldr=tldr,
            body=new_body,
            editor_id=editor_id,
            now=self.clock(),
            on_updated=on_updated,
        ):
            raise UserFacingError(
                f"Summary #{summary.id} was deleted meanwhile; nothing was changed."
            )

    async def delete(
        self, summary: CommunitySummary, *, member_id: int, is_moderator: bool
    ) -> None:
        self.require_can_change(summary, member_id, is_moderator=is_moderator)
        if not await self.repo.soft_delete(summary.id, deleted_by=member_id, now=self.clock()):
            raise UserFacingError(f"Summary #{summary.id} is already deleted.")

    async def restore(
        self, summary: CommunitySummary, *, member_id: int, is_moderator: bool
    ) -> None:
        """Moderators restore any summary; an author only one they deleted themselves."""
        if not summary.is_deleted:
            raise UserFacingError(f"Summary #{summary.id} is not deleted.")
        own_deletion = member_id == summary.author_id and summary.deleted_by == member_id
        if not (is_moderator or own_deletion):
            raise UserFacingError(
                "Only members with the Manage Messages permission can restore a summary "
                "that a moderator deleted."
            )
        if not await self.repo.restore(summary.id):
            raise UserFacingError(f"Summary #{summary.id} is not deleted.")


def _removed_by_moderator(summary_id: int) -> UserFacingError:
    return UserFacingError(
        f"A moderator removed your summary of this paper (#{summary_id}). Ask one to restore "
        f"it with `/summary restore id:{summary_id}`; then you can edit it."
    )
