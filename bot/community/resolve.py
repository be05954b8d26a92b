"""Which paper a member means: the local database first, then the arXiv API.

A look-up that fails (arXiv's error entry, a timeout, an outage, an id arXiv does not know
yet) never stops a submission: the paper is stored with what is known, marked pending, and
`retry_pending_lookups` fills it in later from a background loop.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.community.arxiv import ArxivClient, ArxivLookupError, ArxivPaper
from bot.errors import UserFacingError
from bot.pacing import backoff_delay
from bot.papers import NotAPaperId, PaperId, parse_paper_id
from bot.rendering.text import clean_user_text
from bot.storage.community import CommunityRepository
from bot.storage.database import Database
from bot.storage.papers import Paper, PaperRepository

log = logging.getLogger(__name__)

MAX_PAPER_INPUT = 400
MIN_TITLE_CHARS = 4
MAX_TITLE_CHARS = 300
# Retries of a pending look-up: 1 min, 2, 4, ... capped at 6 h; given up after 12 attempts
# (about two days), when the paper keeps what it has and its summaries stay as they are.
RETRY_FIRST_DELAY = 60.0
RETRY_MAX_DELAY = 6 * 3600.0
RETRY_MAX_ATTEMPTS = 12

# Text that was meant as an identifier: then a parse failure is explained, not taken as a title.
_LOOKS_LIKE_AN_ID = re.compile(
    r"(?i)(?:://|\barxiv\b|\bdoi\b|^10\.\d|^\s*\d{4}\.\d|bibtexkey|shortscience\.org|^[a-z-]+/\d)"
)


@dataclass(frozen=True, slots=True)
class ResolvedPaper:
    paper: Paper
    # True when arXiv could not be asked or did not know the id: details come later.
    pending: bool = False
    note: str | None = None  # what to tell the member about it

    @property
    def display_title(self) -> str:
        return paper_display_title(self.paper)


def paper_display_title(paper: Paper) -> str:
    """The paper's title, or while it has none its best identifier ('arXiv:1706.03762')."""
    if paper.title:
        return paper.title
    ids = paper.ids
    return ids[0].display if ids else paper.canonical_key


def retry_delay(attempts: int) -> float | None:
    """Seconds before the next attempt after `attempts` failures; None means give up."""
    if attempts >= RETRY_MAX_ATTEMPTS:
        return None
    # No jitter: pending papers due together go to arXiv together, in one request.
    return backoff_delay(
        attempts, base_seconds=RETRY_FIRST_DELAY, cap_seconds=RETRY_MAX_DELAY, jitter=False
    )


def _arxiv_id_of(paper_ids: tuple[PaperId, ...]) -> str | None:
    for paper_id in paper_ids:
        if paper_id.kind == "arxiv":
            return paper_id.value
    return None


def normalise_title(text: str) -> str:
    return " ".join(text.split())


class PaperResolver:
    def __init__(
        self, db: Database, arxiv: ArxivClient, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.arxiv = arxiv
        self.papers = PaperRepository(db)
        self.community = CommunityRepository(db)
        self.clock = clock

    async def resolve(self, text: str) -> ResolvedPaper:
        """The paper `text` names: an identifier or link, or else a title.

        Raises `UserFacingError` for input that is neither (with the reason).
        """
        text = clean_user_text(text).strip()
        if not text:
            raise UserFacingError(
                "Tell me which paper: an arXiv id or link, a DOI, a ShortScience link or "
                "bibtex key, or its title."
            )
        if len(text) > MAX_PAPER_INPUT:
            raise UserFacingError(
                f"The paper field takes at most {MAX_PAPER_INPUT} characters "
                f"(yours has {len(text)}): give its id, link or title."
            )
        parsed = parse_paper_id(text)
        if isinstance(parsed, PaperId):
            return await self.resolve_id(parsed)
        return await self._resolve_title(text, parsed)

    async def resolve_id(self, paper_id: PaperId) -> ResolvedPaper:
        ids = paper_id.equivalent_ids
        known = await self.papers.find_by_ids(ids)
        paper = known[0] if known else None
        arxiv_id = _arxiv_id_of(ids) or (paper.arxiv_id if paper else None)
        if arxiv_id is None:
            # No public API to ask for DOIs or keys here: the paper is what we know of it.
            if paper is None:
                paper = await self.papers.find_or_create(ids, url=paper_id.url or None)
            return ResolvedPaper(paper)
        status = await self.community.lookup_status(paper.id) if paper else None
        if paper is not None and paper.title and status != "pending":
            return ResolvedPaper(paper)
        try:
            found = await self.arxiv.lookup(arxiv_id)
        except ArxivLookupError as exc:
            log.info("arXiv look-up of %s failed, will retry: %s", arxiv_id, exc)
            paper = await self._store_pending(paper, ids, arxiv_id, str(exc))
            return ResolvedPaper(
                paper,
                pending=True,
                note=(
                    "arXiv could not be reached just now, so the paper's title and authors "
                    "will be filled in later. Your summary is kept either way."
                ),
            )
        if found is None:
            paper = await self._store_pending(paper, ids, arxiv_id, "arXiv does not know this id")
            return ResolvedPaper(
                paper,
                pending=True,
                note=(
                    f"arXiv does not know {arxiv_id} (yet). Check the id; the paper's details "
                    "will be filled in if arXiv lists it later."
                ),
            )
        paper = await self._store_found(paper, ids, found)
        return ResolvedPaper(paper)

    async def _store_pending(
        self, paper: Paper | None, ids: tuple[PaperId, ...], arxiv_id: str, error: str
    ) -> Paper:
        now = self.clock()
        async with self.db.transaction() as conn:
            if paper is None:
                paper = await self.papers.find_or_create(
                    ids, url=f"https://arxiv.org/abs/{arxiv_id}", conn=conn
                )
            await self.community.mark_lookup_pending(
                paper.id,
                arxiv_id,
                error=error,
                next_attempt_at=now + RETRY_FIRST_DELAY,
                conn=conn,
            )
        return paper

    async def _store_found(
        self, paper: Paper | None, ids: tuple[PaperId, ...], found: ArxivPaper
    ) -> Paper:
        async with self.db.transaction() as conn:
            if paper is None:
                all_ids = list(ids)
                if found.doi:
                    all_ids.append(PaperId(kind="doi", value=found.doi))
                paper = await self.papers.find_or_create(all_ids, conn=conn)
            await self.apply(paper.id, found, conn=conn)
        refreshed = await self.papers.get(paper.id)
        assert refreshed is not None
        return refreshed

    async def apply(self, paper_id: int, found: ArxivPaper, *, conn: object = None) -> None:
        await self.community.apply_arxiv_metadata(
            paper_id,
            arxiv_id=found.arxiv_id,
            title=found.title,
            authors=found.authors_display,
            abstract=found.abstract,
            year=found.year,
            url=found.abs_url,
            pdf_url=found.pdf_url,
            doi=found.doi,
            venue=found.journal_ref,
            categories=found.categories,
            now=self.clock(),
            conn=conn,  # type: ignore[arg-type]
        )

    async def _resolve_title(self, text: str, parsed: NotAPaperId) -> ResolvedPaper:
        if _LOOKS_LIKE_AN_ID.search(text):
            raise UserFacingError(
                f"That doesn't look like a paper I can find: {parsed.reason}. Give an arXiv id "
                "or link, a DOI, a ShortScience link or bibtex key, or the paper's title."
            )
        title = normalise_title(text)
        if len(title) < MIN_TITLE_CHARS or not any(ch.isalpha() for ch in title):
            raise UserFacingError(
                "Give the paper's id or link, or its full title (at least "
                f"{MIN_TITLE_CHARS} characters)."
            )
        if len(title) > MAX_TITLE_CHARS:
            raise UserFacingError(
                f"A paper title takes at most {MAX_TITLE_CHARS} characters (yours has "
                f"{len(title)})."
            )
        paper_id = await self.community.find_or_create_titled_paper(title, now=self.clock())
        paper = await self.papers.get(paper_id)
        assert paper is not None
        return ResolvedPaper(paper)

    async def retry_pending_lookups(self, *, limit: int = 50) -> int:
        """One pass of the background retry: ask arXiv again for papers still pending.

        Returns how many were resolved. Failures are rescheduled with backoff (or given up).
        """
        now = self.clock()
        due = await self.community.due_lookups(now, limit=limit)
        if not due:
            return 0
        try:
            found = await self.arxiv.lookup_many(item.arxiv_id for item in due)
        except ArxivLookupError as exc:
            for item in due:
                delay = retry_delay(item.attempts + 1)
                await self.community.record_lookup_failure(
                    item.paper_id,
                    error=str(exc),
                    next_attempt_at=None if delay is None else now + delay,
                )
            log.info("arXiv retry of %d papers failed: %s", len(due), exc)
            return 0
        resolved = 0
        for item in due:
            paper = found.get(item.arxiv_id)
            if paper is None:
                delay = retry_delay(item.attempts + 1)
                await self.community.record_lookup_failure(
                    item.paper_id,
                    error="arXiv does not know this id",
                    next_attempt_at=None if delay is None else now + delay,
                )
                continue
            async with self.db.transaction() as conn:
                await self.apply(item.paper_id, paper, conn=conn)
            resolved += 1
        if resolved:
            log.info("Filled in %d papers from arXiv", resolved)
        return resolved
