"""Which paper a member means: the local database first, then the arXiv API.

Resolving writes nothing: a paper that is not stored yet is described by an unsaved
stand-in (for the preview), and `PaperResolver.store` writes it in the transaction that
publishes the summary or opens the reading session, so a cancelled preview leaves nothing
behind. A look-up that fails (arXiv's error entry, a timeout, an outage, an id arXiv does not
know yet) never stops a submission: the paper is stored with what is known, marked pending,
and the enrichment loop (bot/enrichment/) fills it in later.

An identifier or link goes to `resolve_id`. A title that names no single known paper is a
question for the member (`bot.community.title_search`, for `/summarize` and `/reading`); the
answer comes back through `resolve_id`, `resolve_stored` or `new_titled`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

from bot.community.arxiv import ArxivClient, ArxivLookupError, ArxivPaper
from bot.community.title_search import TitleCandidates, TitleFinder, parse_option
from bot.errors import UserFacingError
from bot.papers import PaperId, parse_paper_id
from bot.rendering.text import clean_user_text
from bot.storage.community import CommunityRepository, KnownPaper
from bot.storage.database import Connection, Database
from bot.storage.papers import ID_PRIORITY, Paper, PaperRepository

log = logging.getLogger(__name__)

MAX_PAPER_INPUT = 400
MIN_TITLE_CHARS = 4
MAX_TITLE_CHARS = 300
# A failed look-up is retried by the enrichment loop, first after this many seconds.
RETRY_FIRST_DELAY = 60.0

# Text that was meant as an identifier: then a parse failure is explained, not taken as a title.
_LOOKS_LIKE_AN_ID = re.compile(
    r"(?i)(?:://|\barxiv\b|\bdoi\b|^10\.\d|^\s*\d{4}\.\d|bibtexkey|shortscience\.org|^[a-z-]+/\d)"
)


# The row id of a paper that is not stored yet (row ids start at 1).
UNSAVED_PAPER_ID: Final = 0


@dataclass(frozen=True, slots=True)
class ResolvedPaper:
    """The paper a member named, as found; nothing stored by finding it.

    `paper` is the stored row when there is one, else an unsaved stand-in (id
    `UNSAVED_PAPER_ID`) made of what is known, to preview with. `PaperResolver.store` stores
    it: found or created by `ids` (by its title when there are none), with arXiv's
    description applied, or marked pending when arXiv could not give one.
    """

    paper: Paper
    ids: tuple[PaperId, ...] = ()
    found: ArxivPaper | None = None  # arXiv's description, applied when stored
    arxiv_id: str | None = None
    lookup_error: str | None = None  # arXiv could not describe it: stored pending
    note: str | None = None  # what to tell the member about it

    @property
    def pending(self) -> bool:
        """True when arXiv could not be asked or did not know the id: details come later."""
        return self.lookup_error is not None

    @property
    def is_stored(self) -> bool:
        return self.paper.id != UNSAVED_PAPER_ID

    @property
    def display_title(self) -> str:
        return paper_display_title(self.paper)


def unsaved_paper(
    ids: Iterable[PaperId], *, title: str = "", url: str | None = None, now: float
) -> Paper:
    """A paper not stored yet, for previews: its identifiers (or its title) and link."""
    ids = tuple(ids)
    by_kind: dict[str, str] = {}
    for paper_id in ids:
        by_kind.setdefault(paper_id.kind, paper_id.value)
    if ids:
        primary = min(ids, key=lambda p: ID_PRIORITY.index(p.kind))
        key = primary.canonical_key
    else:
        key = "title:" + title.lower()
    moment = datetime.fromtimestamp(now, UTC)
    return Paper(
        id=UNSAVED_PAPER_ID, canonical_key=key, arxiv_id=by_kind.get("arxiv"),
        doi=by_kind.get("doi"), bibtex_key=by_kind.get("bibtex"), title=title, authors="",
        venue=None, year=None, abstract=None, url=url, pdf_url=None, created_at=moment,
        updated_at=moment,
    )  # fmt: skip


def with_arxiv_details(paper: Paper, found: ArxivPaper) -> Paper:
    """`paper` as it will be once arXiv's description is applied: what it lacks filled in,
    what it has kept (as `CommunityRepository.apply_arxiv_metadata` does)."""
    return replace(
        paper,
        title=paper.title or found.title,
        authors=paper.authors or found.authors_display,
        abstract=paper.abstract or found.abstract,
        year=paper.year if paper.year is not None else found.year,
        url=paper.url or found.abs_url,
        pdf_url=paper.pdf_url or found.pdf_url,
        venue=paper.venue or found.journal_ref,
        doi=paper.doi or found.doi,
    )


def paper_display_title(paper: Paper) -> str:
    """The paper's title, or while it has none its best identifier ('arXiv:1706.03762')."""
    if paper.title:
        return paper.title
    ids = paper.ids
    return ids[0].display if ids else paper.canonical_key


def _arxiv_id_of(paper_ids: tuple[PaperId, ...]) -> str | None:
    for paper_id in paper_ids:
        if paper_id.kind == "arxiv":
            return paper_id.value
    return None


def normalise_title(text: str) -> str:
    return " ".join(text.split())


def read_paper_input(text: str) -> PaperId | str:
    """What a member named in a paper field: an identifier or link, or else a title (its
    whitespace normalised).

    Raises `UserFacingError` for input that is neither (with the reason): empty, too long,
    meant as an identifier but not a valid one, or too short or long for a title.
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
        return parsed
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
            f"A paper title takes at most {MAX_TITLE_CHARS} characters (yours has {len(title)})."
        )
    return title


class PaperResolver:
    def __init__(
        self, db: Database, arxiv: ArxivClient, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.arxiv = arxiv
        self.papers = PaperRepository(db)
        self.community = CommunityRepository(db)
        self.clock = clock

    def new_titled(self, title: str) -> ResolvedPaper:
        """A new paper with this title and no identifier, stored only when published."""
        return ResolvedPaper(unsaved_paper((), title=normalise_title(title), now=self.clock()))

    async def resolve_stored(self, paper: Paper) -> ResolvedPaper:
        """A stored paper a member chose, with arXiv's details when it still lacks them."""
        if paper.arxiv_id:
            resolved = await self.resolve_id(PaperId(kind="arxiv", value=paper.arxiv_id))
            if resolved.paper.id == paper.id:
                return resolved
        return ResolvedPaper(paper, ids=tuple(paper.ids))

    async def resolve_typed(
        self, text: str, titles: TitleFinder, *, guild_id: int | None
    ) -> ResolvedPaper | TitleCandidates:
        """What a member typed for a paper (refused by `read_paper_input` when it names
        none): an identifier's paper (maybe looked up on arXiv), or as `resolve_title`."""
        named = read_paper_input(text)
        if isinstance(named, PaperId):
            return await self.resolve_id(named)
        return await self.resolve_title(named, titles, guild_id=guild_id)

    async def resolve_title(
        self, title: str, titles: TitleFinder, *, guild_id: int | None
    ) -> ResolvedPaper | TitleCandidates:
        """The one paper known here by exactly this title; else the papers it may mean, for
        the caller to ask which (the title picker)."""
        found = await titles.lookup(title, guild_id=guild_id)
        if isinstance(found, TitleCandidates):
            return found
        return await self.resolve_stored(found)

    async def resolve_choice(
        self, choice: str, *, title: str, guild_id: int | None
    ) -> ResolvedPaper:
        """The paper picked for a typed `title` in the title picker (`choice`: the value of
        one of `paper_options`, checked by the caller against those offered)."""
        kind, value = parse_option(choice)
        if kind == "known":
            paper = await self.papers.get_visible(int(value), guild_id=guild_id)
            if paper is None:
                raise UserFacingError(
                    "That paper is no longer known in this server: pick another one."
                )
            return await self.resolve_stored(paper)
        if kind == "arxiv":
            return await self.resolve_id(PaperId(kind="arxiv", value=value))
        return self.new_titled(title)

    async def resolve_id(
        self, paper_id: PaperId, *, known: Sequence[KnownPaper] | None = None
    ) -> ResolvedPaper:
        """The paper `paper_id` names. `known` is what `CommunityRepository.known_papers`
        says of its ids, when the caller read it already."""
        ids = paper_id.equivalent_ids
        if known is None:
            known = await self.community.known_papers(ids, guild_id=None, author_id=None)
        paper = known[0].paper if known else None
        arxiv_id = _arxiv_id_of(ids) or (paper.arxiv_id if paper else None)
        if arxiv_id is None:
            # No public API to ask for DOIs or keys here: the paper is what we know of it.
            if paper is None:
                paper = unsaved_paper(ids, url=paper_id.url or None, now=self.clock())
            return ResolvedPaper(paper, ids=ids)
        status = known[0].arxiv_status if known else None
        if paper is not None and paper.title and status != "pending":
            return ResolvedPaper(paper, ids=ids)
        abs_url = f"https://arxiv.org/abs/{arxiv_id}"
        try:
            found = await self.arxiv.lookup(arxiv_id)  # cached in memory by the client
        except ArxivLookupError as exc:
            log.info("arXiv look-up of %s failed, will retry: %s", arxiv_id, exc)
            return ResolvedPaper(
                paper or unsaved_paper(ids, url=abs_url, now=self.clock()),
                ids=ids,
                arxiv_id=arxiv_id,
                lookup_error=str(exc),
                note=(
                    "arXiv could not be reached just now, so the paper's title and authors "
                    "will be filled in later. Your summary is kept either way."
                ),
            )
        if found is None:
            return ResolvedPaper(
                paper or unsaved_paper(ids, url=abs_url, now=self.clock()),
                ids=ids,
                arxiv_id=arxiv_id,
                lookup_error="arXiv does not know this id",
                note=(
                    f"arXiv does not know {arxiv_id} (yet). Check the id; the paper's details "
                    "will be filled in if arXiv lists it later."
                ),
            )
        if paper is None:
            if found.doi:
                ids = (*ids, PaperId(kind="doi", value=found.doi))
            paper = unsaved_paper(ids, url=abs_url, now=self.clock())
        return ResolvedPaper(
            with_arxiv_details(paper, found), ids=ids, found=found, arxiv_id=arxiv_id
        )

    async def store(
        self, resolved: ResolvedPaper, *, guild_id: int | None, conn: Connection
    ) -> int:
        """Write what a `resolve_*` method found, in the caller's transaction; returns the
        paper's id.

        A new paper is created (found again by its identifiers, or by its title among the
        papers `guild_id` may see, in case someone stored it meanwhile); arXiv's description
        is applied, or the paper marked pending for the background retry.
        """
        now = self.clock()
        if resolved.is_stored:
            paper_id = resolved.paper.id
        elif resolved.ids:
            created = await self.papers.find_or_create(
                resolved.ids, url=resolved.paper.url, conn=conn
            )
            paper_id = created.id
        else:
            paper_id = await self.papers.find_or_create_titled(
                resolved.paper.title, guild_id=guild_id, now=now, conn=conn
            )
        if resolved.found is not None:
            # Someone may have stored and described it since the preview: once is enough.
            if await self.community.lookup_status(paper_id, conn=conn) != "resolved":
                await self.apply(paper_id, resolved.found, conn=conn)
        elif resolved.lookup_error is not None and resolved.arxiv_id is not None:
            await self.community.mark_lookup_pending(
                paper_id,
                resolved.arxiv_id,
                error=resolved.lookup_error,
                next_attempt_at=now + RETRY_FIRST_DELAY,
                conn=conn,
            )
        return paper_id

    async def apply(
        self, paper_id: int, found: ArxivPaper, *, conn: Connection | None = None
    ) -> None:
        await self.community.apply_arxiv_metadata(
            paper_id, found.arxiv_id, found.details, now=self.clock(), conn=conn
        )
