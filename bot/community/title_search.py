"""What a typed title may mean: a paper this server already knows, one of arXiv's papers
with that title, or a new paper with exactly that title.

`/summarize` never creates a paper from a title silently. A title that matches exactly one
known paper (ignoring case and spacing) is that paper; otherwise `TitleFinder.lookup` gathers
the closest known papers (from the search index, only those the server may see) and arXiv's
title search, and the member picks one of `paper_options`, the last always "a new paper
titled ...". Nothing is stored here: the chosen paper is stored when the summary is published.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from bot.community.arxiv import ArxivClient, ArxivLookupError, ArxivPaper
from bot.presenters import title_text
from bot.rendering.text import escape_markdown, neutralize_mentions, plural, shorten
from bot.search import SearchService, TitleSuggestion
from bot.storage.papers import Paper, PaperRepository
from bot.titles import same_title, title_similarity

log = logging.getLogger(__name__)

# Discord's select menus: at most 25 options; labels, values and descriptions of at most 100.
MAX_OPTIONS: Final = 25
OPTION_TEXT: Final = 100
KNOWN_LIMIT: Final = 10
ARXIV_LIMIT: Final = 10
# Known papers fetched from the index before ranking them by how close their titles are.
CANDIDATE_POOL: Final = 25
# Known papers less alike than this are left out (they share a word, little more).
MIN_SIMILARITY: Final = 0.3
# How long a member waits for arXiv's title search (its turn among this process's requests
# included) before being offered the known papers and a new one without it.
ARXIV_PATIENCE: Final = 12.0

NEW_PAPER: Final = "new"
KNOWN_PREFIX: Final = "known:"
ARXIV_PREFIX: Final = "arxiv:"

OptionKind = Literal["known", "arxiv", "new"]


@dataclass(frozen=True, slots=True)
class TitleCandidates:
    """What a typed title may mean, closest first; nothing of it is stored."""

    title: str  # as typed, whitespace normalised
    known: tuple[Paper, ...] = ()  # papers the server may see
    found: tuple[ArxivPaper, ...] = ()  # arXiv's title search, in its relevance order
    arxiv_problem: str | None = None  # why arXiv could not be searched, if it could not


@dataclass(frozen=True, slots=True)
class PaperOption:
    """One choice of the picker: what it submits, and what it shows."""

    kind: OptionKind
    value: str
    label: str
    description: str


def first_authors(names: Sequence[str], *, shown: int = 2) -> str:
    """'A', 'A and B', or 'A, B et al.' for longer lists."""
    names = [name for name in names if name.strip()]
    if len(names) <= 1:
        return names[0] if names else ""
    if len(names) == 2:
        return f"{names[0]} and {names[1]}"
    return ", ".join(names[:shown]) + " et al."


def _described(*parts: str | int | None) -> str:
    return shorten(" · ".join(str(part) for part in parts if part), OPTION_TEXT)


def new_paper_label(title: str) -> str:
    frame = "A new paper titled “”"
    return f"A new paper titled “{shorten(title, OPTION_TEXT - len(frame))}”"


@dataclass(frozen=True, slots=True)
class PickerWording:
    """What the picker says that depends on what the paper is picked for."""

    # When a new paper is stored.
    new_paper_when: str = "when you publish"
    # How to name an arXiv paper by its id instead, when arXiv could not be searched.
    by_id_instead: str = "press **Edit** and give its arXiv id or link instead"
    # How to correct the title.
    correct_title: str = "Check its spelling (**Edit**)"
    # The last line: what is kept meanwhile.
    meanwhile: str = (
        "Your TL;DR and summary are kept while you choose; nothing is saved before you publish."
    )


SUMMARY_WORDING: Final = PickerWording()


def paper_options(
    candidates: TitleCandidates, wording: PickerWording = SUMMARY_WORDING
) -> list[PaperOption]:
    """The picker's choices: known papers, then arXiv's papers not already among them, then
    a new paper with the typed title, last; at most `MAX_OPTIONS`, texts within Discord's
    limits, values unique."""
    options: list[PaperOption] = []
    known_arxiv_ids = {paper.arxiv_id for paper in candidates.known if paper.arxiv_id}
    for paper in candidates.known[:KNOWN_LIMIT]:
        ids = paper.ids
        options.append(
            PaperOption(
                kind="known",
                value=f"{KNOWN_PREFIX}{paper.id}",
                label=shorten(
                    title_text(paper.title) or (ids[0].display if ids else "untitled"), OPTION_TEXT
                ),
                description=_described(
                    "Known here",
                    first_authors(paper.authors.split(", ")) if paper.authors else None,
                    paper.year,
                    ids[0].display if ids else None,
                ),
            )
        )
    arxiv = [found for found in candidates.found if found.arxiv_id not in known_arxiv_ids]
    for found in arxiv[:ARXIV_LIMIT]:
        value = f"{ARXIV_PREFIX}{found.arxiv_id}"
        if len(value) > OPTION_TEXT:
            continue
        options.append(
            PaperOption(
                kind="arxiv",
                value=value,
                label=shorten(title_text(found.title) or f"arXiv:{found.arxiv_id}", OPTION_TEXT),
                description=_described(
                    f"arXiv:{found.arxiv_id}", first_authors(found.authors), found.year
                ),
            )
        )
    options = options[: MAX_OPTIONS - 1]
    options.append(
        PaperOption(
            kind="new",
            value=NEW_PAPER,
            label=new_paper_label(candidates.title),
            description=shorten(
                f"None of these: a new paper, created with this title {wording.new_paper_when}",
                OPTION_TEXT,
            ),
        )
    )
    return options


def question_text(candidates: TitleCandidates, wording: PickerWording = SUMMARY_WORDING) -> str:
    """What the picker says above its menu: what was looked for, what was found, what
    arXiv's failure (if any) means, and what is kept meanwhile."""
    shown = escape_markdown(neutralize_mentions(shorten(candidates.title, 200)))
    options = paper_options(candidates, wording)
    known = sum(1 for option in options if option.kind == "known")
    arxiv = sum(1 for option in options if option.kind == "arxiv")
    lines = [f"Which paper is **“{shown}”**? No paper known here has exactly that title."]
    if candidates.arxiv_problem is not None:
        lines.append(
            f"⚠️ arXiv could not be searched just now ({candidates.arxiv_problem}), so only "
            f"papers known here are listed. For an arXiv paper, {wording.by_id_instead}."
        )
    if known or arxiv:
        found = []
        if known:
            found.append(f"📚 {plural(known, 'paper')} known here")
        if arxiv:
            found.append(f"📄 {plural(arxiv, 'paper')} on arXiv")
        lines.append(f"Closest first: {' · '.join(found)}; last, ➕ a new paper with this title.")
    elif candidates.arxiv_problem is None:
        lines.append(
            "Neither this server nor arXiv knows a paper with that title. "
            f"{wording.correct_title}, or choose ➕ a new paper with this title."
        )
    else:
        lines.append("Nothing known here is like it: choose ➕ a new paper with this title.")
    lines.append(wording.meanwhile)
    return "\n".join(lines)


def parse_option(value: str) -> tuple[OptionKind, str]:
    """What an option's value names: ('known', row id), ('arxiv', id) or ('new', '').

    Raises `ValueError` for anything else."""
    if value == NEW_PAPER:
        return "new", ""
    if value.startswith(KNOWN_PREFIX) and value[len(KNOWN_PREFIX) :].isdigit():
        return "known", value[len(KNOWN_PREFIX) :]
    if value.startswith(ARXIV_PREFIX) and len(value) > len(ARXIV_PREFIX):
        return "arxiv", value[len(ARXIV_PREFIX) :]
    raise ValueError(f"not a paper option: {value!r}")


def rank_by_title(title: str, suggestions: Sequence[TitleSuggestion]) -> list[TitleSuggestion]:
    """The suggestions closest to `title` first, without repeats or ones too unlike it."""
    scored: dict[int, tuple[float, int, TitleSuggestion]] = {}
    for order, suggestion in enumerate(suggestions):
        if suggestion.paper_id in scored:
            continue
        score = title_similarity(title, suggestion.title)
        if score >= MIN_SIMILARITY:
            scored[suggestion.paper_id] = (score, order, suggestion)
    ranked = sorted(scored.values(), key=lambda item: (-item[0], item[1]))
    return [suggestion for _, _, suggestion in ranked]


class TitleFinder:
    """Finds what a typed title may mean, for one server; stores nothing."""

    def __init__(
        self,
        papers: PaperRepository,
        arxiv: ArxivClient,
        search: SearchService | None,
        *,
        arxiv_patience: float = ARXIV_PATIENCE,
    ) -> None:
        self.papers = papers
        self.arxiv = arxiv
        self.search = search
        self.arxiv_patience = arxiv_patience

    async def lookup(self, title: str, *, guild_id: int | None) -> Paper | TitleCandidates:
        """The one known paper with exactly this title, or the candidates to pick from."""
        known = await self.known(title, guild_id=guild_id)
        exact = [paper for paper in known if same_title(paper.title, title)]
        if len(exact) == 1:
            return exact[0]
        found, problem = await self.search_arxiv(title)
        return TitleCandidates(title, tuple(known), tuple(found), problem)

    async def known(self, title: str, *, guild_id: int | None) -> list[Paper]:
        """The papers the server may see whose titles are closest to `title`, best first."""
        pool: list[TitleSuggestion] = []
        if self.search is not None:
            pool += await self.search.autocomplete(title, guild_id=guild_id, limit=CANDIDATE_POOL)
            pool += await self.search.similar_titles(title, guild_id=guild_id, limit=CANDIDATE_POOL)
        papers: list[Paper] = []
        # The database has the last word: the index may lag behind a change just made.
        exact = await self.papers.find_visible_by_title(title, guild_id=guild_id)
        if exact is not None:
            papers.append(exact)
        for suggestion in rank_by_title(title, pool):
            if len(papers) >= KNOWN_LIMIT:
                break
            if any(paper.id == suggestion.paper_id for paper in papers):
                continue
            paper = await self.papers.get_visible(suggestion.paper_id, guild_id=guild_id)
            if paper is not None:
                papers.append(paper)
        return papers

    async def search_arxiv(self, title: str) -> tuple[list[ArxivPaper], str | None]:
        """arXiv's papers with this title, and why there are none when arXiv failed."""
        try:
            async with asyncio.timeout(self.arxiv_patience):
                return await self.arxiv.search_titles(title, limit=ARXIV_LIMIT), None
        except ArxivLookupError as exc:
            log.info("arXiv title search failed: %s", exc)
            return [], str(exc)
        except TimeoutError:
            log.info("arXiv title search took longer than %g s", self.arxiv_patience)
            return [], f"arXiv did not answer within {self.arxiv_patience:g} s"
