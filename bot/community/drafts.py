"""Drafts of community summaries between the steps of writing one, kept in the database.

`/summarize` goes form → (which paper a title means) → preview → Publish, and `/summary
edit` goes form → preview → Save; each step is a message whose buttons, menus and forms any
bot process may receive. So the draft lives in an interaction state (`bot.storage.
interactions`), found by the id its custom_ids carry: the text (a body from a file too, up
to 100 KB), the question of which paper (the title typed and the options offered), the
paper the preview shows (as resolved: arXiv's description included, so Publish asks arXiv
nothing), and for an edit the summary's id. The author is the state's owner: only they act
on it, one action at a time (`claim`), and once published, saved, cancelled, replaced or
expired it takes no more actions, except Edit on an expired draft, which hands the text
back in a form.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, cast

from bot.community.arxiv import ArxivPaper
from bot.community.resolve import ResolvedPaper, unsaved_paper, with_arxiv_details
from bot.community.service import Draft, PendingChoice
from bot.errors import UserFacingError
from bot.papers import PaperId, PaperKind
from bot.storage.database import Database
from bot.storage.interactions import InteractionState, InteractionStateRepository
from bot.storage.papers import PaperRepository

DraftKind = Literal["draft", "edit"]
Step = Literal["form", "picker", "preview"]

NEW_SUMMARY: Final[DraftKind] = "draft"  # /summarize, "Summarize this paper"
EDIT_SUMMARY: Final[DraftKind] = "edit"  # /summary edit
KINDS: Final = (NEW_SUMMARY, EDIT_SUMMARY)
# A form's draft (a file's body waiting for the form, or text handed back for another try)
# is kept this long: a member may take their time writing.
FORM_LIFETIME: Final = 24 * 3600.0
# One action at a time: a process that dies mid-action frees the draft after this long.
ACTION_LEASE: Final = 120.0
# A body longer than the form holds stays as it is when a stored summary is edited.
KEPT_BODY: Final = "kept"


@dataclass(frozen=True, slots=True)
class StoredDraft:
    """A draft as kept between steps."""

    state: InteractionState
    kind: DraftKind
    step: Step
    draft: Draft
    file_url: str | None = None  # the body is in this attachment, not fetched yet
    summary_id: int | None = None  # the summary an edit changes
    pending: PendingChoice | None = None  # the question of which paper (step "picker")
    paper: dict[str, Any] | None = None  # the paper a preview shows (`resolved_to_json`)

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def owner_id(self) -> int:
        return self.state.owner_id

    @property
    def keeps_body(self) -> bool:
        """An edit that leaves the stored body as it is (too long for the form)."""
        return self.kind == EDIT_SUMMARY and self.draft.file_name == KEPT_BODY


def edit_draft(tldr: str, body: str | None) -> Draft:
    """The draft of an edit to a stored summary; `body` None keeps the stored body."""
    return Draft(
        paper="", tldr=tldr, body=body or "", file_name=None if body is not None else KEPT_BODY
    )


class DraftStore:
    """Keeps drafts as interaction states."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.states = InteractionStateRepository(db)
        self.papers = PaperRepository(db)
        self.clock = clock

    async def create(
        self,
        kind: DraftKind,
        *,
        owner_id: int,
        guild_id: int,
        draft: Draft,
        lifetime: float,
        step: Step = "form",
        file_url: str | None = None,
        summary_id: int | None = None,
        pending: PendingChoice | None = None,
        resolved: ResolvedPaper | None = None,
    ) -> StoredDraft:
        payload = _payload(
            step,
            draft,
            file_url=file_url,
            summary_id=summary_id,
            pending=pending,
            paper=None if resolved is None else resolved_to_json(resolved),
        )
        state = await self.states.create(
            kind,
            owner_id=owner_id,
            guild_id=guild_id,
            payload=payload,
            now=self.clock(),
            lifetime=lifetime,
        )
        return _stored(state)

    async def get(self, state_id: str) -> StoredDraft | None:
        state = await self.states.get(state_id)
        return None if state is None or state.kind not in KINDS else _stored(state)

    async def claim(self, state_id: str) -> StoredDraft | None:
        """The draft, taken for one action (None: done with, or another action runs)."""
        state = await self.states.claim(state_id, now=self.clock(), lease=ACTION_LEASE)
        return None if state is None or state.kind not in KINDS else _stored(state)

    async def release(self, state_id: str) -> None:
        await self.states.release(state_id)

    async def to_preview(
        self, stored: StoredDraft, draft: Draft, resolved: ResolvedPaper, *, lifetime: float
    ) -> StoredDraft:
        """A paper was chosen: the picker's draft becomes the preview's (same id)."""
        payload = _payload(
            "preview",
            draft,
            file_url=stored.file_url,
            summary_id=stored.summary_id,
            paper=resolved_to_json(resolved),
        )
        expires_at = self.clock() + lifetime
        await self.states.replace_payload(stored.id, payload, expires_at=expires_at)
        state = stored.state
        return _stored(
            InteractionState(
                id=state.id,
                kind=state.kind,
                owner_id=state.owner_id,
                guild_id=state.guild_id,
                payload=payload,
                created_at=state.created_at,
                expires_at=expires_at,
                busy_until=None,
                outcome=None,
            )
        )

    async def touch(self, state_id: str, *, lifetime: float) -> None:
        await self.states.touch(state_id, expires_at=self.clock() + lifetime)

    async def finish(self, state_id: str, outcome: str) -> bool:
        return await self.states.finish(state_id, outcome)

    async def expire(self, state_id: str, *, slack: float) -> bool:
        return await self.states.expire(state_id, now=self.clock(), slack=slack)

    async def resolved(self, stored: StoredDraft) -> ResolvedPaper:
        """The paper a preview shows, as it was resolved (a stored paper as stored now)."""
        if stored.paper is None:
            raise ValueError("this draft has no paper yet")
        return await resolved_from_json(stored.paper, self.papers, now=self.clock())


def _payload(
    step: Step,
    draft: Draft,
    *,
    file_url: str | None = None,
    summary_id: int | None = None,
    pending: PendingChoice | None = None,
    paper: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "step": step,
        "draft": {
            "paper": draft.paper,
            "tldr": draft.tldr,
            "body": draft.body,
            "file_name": draft.file_name,
        },
        "file_url": file_url,
        "summary_id": summary_id,
        "question": None
        if pending is None
        else {"title": pending.title, "offered": list(pending.offered)},
        "paper": paper,
    }


def _stored(state: InteractionState) -> StoredDraft:
    payload = state.payload
    text = payload["draft"]
    draft = Draft(
        paper=text["paper"], tldr=text["tldr"], body=text["body"], file_name=text["file_name"]
    )
    question = payload.get("question")
    pending = None
    if question is not None:
        pending = PendingChoice(draft, title=question["title"], offered=tuple(question["offered"]))
    return StoredDraft(
        state=state,
        kind=cast(DraftKind, state.kind),
        step=cast(Step, payload["step"]),
        draft=draft,
        file_url=payload.get("file_url"),
        summary_id=payload.get("summary_id"),
        pending=pending,
        paper=payload.get("paper"),
    )


# --- a resolved paper, kept -------------------------------------------------------------------


def resolved_to_json(resolved: ResolvedPaper) -> dict[str, Any]:
    """What it takes to show and store the paper later without asking arXiv again: the
    stored paper's row id (0 for a paper not stored yet, then its title and link), its
    identifiers, and arXiv's description or why there is none."""
    paper = resolved.paper
    return {
        "paper_id": paper.id,
        "title": paper.title,
        "url": paper.url,
        "ids": [[paper_id.kind, paper_id.value, paper_id.version] for paper_id in resolved.ids],
        "found": None if resolved.found is None else _arxiv_to_json(resolved.found),
        "arxiv_id": resolved.arxiv_id,
        "lookup_error": resolved.lookup_error,
        "note": resolved.note,
    }


async def resolved_from_json(
    data: dict[str, Any], papers: PaperRepository, *, now: float
) -> ResolvedPaper:
    ids = tuple(
        PaperId(kind=cast(PaperKind, kind), value=value, version=version)
        for kind, value, version in data["ids"]
    )
    if data["paper_id"]:
        paper = await papers.get(int(data["paper_id"]))
        if paper is None:
            raise UserFacingError(
                "The paper of this draft is no longer known here: press **Edit** and name it "
                "again. Nothing was published."
            )
    else:
        paper = unsaved_paper(ids, title=data["title"], url=data["url"], now=now)
    found = None if data["found"] is None else _arxiv_from_json(data["found"])
    if found is not None:
        paper = with_arxiv_details(paper, found)
    return ResolvedPaper(
        paper,
        ids=ids,
        found=found,
        arxiv_id=data["arxiv_id"],
        lookup_error=data["lookup_error"],
        note=data["note"],
    )


def _arxiv_to_json(found: ArxivPaper) -> dict[str, Any]:
    return {
        "arxiv_id": found.arxiv_id,
        "version": found.version,
        "title": found.title,
        "authors": list(found.authors),
        "abstract": found.abstract,
        "published": None if found.published is None else found.published.isoformat(),
        "categories": list(found.categories),
        "doi": found.doi,
        "journal_ref": found.journal_ref,
        "abs_url": found.abs_url,
        "pdf_url": found.pdf_url,
    }


def _arxiv_from_json(data: dict[str, Any]) -> ArxivPaper:
    published = data["published"]
    return ArxivPaper(
        arxiv_id=data["arxiv_id"],
        version=data["version"],
        title=data["title"],
        authors=tuple(data["authors"]),
        abstract=data["abstract"],
        published=None if published is None else datetime.fromisoformat(published),
        categories=tuple(data["categories"]),
        doi=data["doi"],
        journal_ref=data["journal_ref"],
        abs_url=data["abs_url"],
        pdf_url=data["pdf_url"],
    )
