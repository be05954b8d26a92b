"""Looking papers up on the arXiv API, by id or by title: spaced, cached, with timeouts.

arXiv's terms ask for at most one request every three seconds from a client, so every
`ArxivClient` in the process shares one `RequestSpacer` by default. Results (and "not
found") are cached, and concurrent look-ups of the same id share one request. A title
search (`search_query=ti:...`) is built from the title's words only, so nothing a member
types can become an operator or a field of arXiv's query language.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import feedparser

from bot.net import ResponseTooLarge, read_body
from bot.pacing import RequestSpacer
from bot.papers import PaperId, parse_paper_id
from bot.storage.papers import PaperDetails
from bot.titles import significant_words, title_words

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
FOUND_TTL = 24 * 3600.0
NOT_FOUND_TTL = 600.0
CACHE_SIZE = 2048
MAX_IDS_PER_REQUEST = 50
MAX_BODY_BYTES = 2 * 1024 * 1024
# A title search: how many results to ask for, at most; how many words go into the query.
MAX_TITLE_RESULTS = 25
MAX_PHRASE_WORDS = 24
MAX_REQUIRED_WORDS = 10
TITLE_SEARCH_TTL = 600.0
TITLE_SEARCH_CACHE_SIZE = 256
# Words arXiv's query language reads as operators when upper-case. Words go to arXiv
# lower-cased, so they cannot be operators; left out of the AND clauses all the same.
QUERY_OPERATOR_WORDS = frozenset({"and", "or", "not", "andnot"})

ABS_ID = re.compile(r"arxiv\.org/abs/(?P<id>.+?)(?:v(?P<version>\d+))?$")


class ArxivLookupError(Exception):
    """arXiv could not answer: an error entry, an HTTP error, a timeout, an unreadable body."""


@dataclass(frozen=True, slots=True)
class ArxivPaper:
    """What the arXiv API tells about one paper."""

    arxiv_id: str  # without version
    version: int | None
    title: str
    authors: tuple[str, ...]
    abstract: str
    published: datetime | None
    categories: tuple[str, ...] = ()  # primary category first
    doi: str | None = None
    journal_ref: str | None = None
    abs_url: str = ""
    pdf_url: str | None = None

    @property
    def year(self) -> int | None:
        return self.published.year if self.published else None

    @property
    def authors_display(self) -> str:
        return ", ".join(self.authors)

    @property
    def published_date(self) -> str | None:
        """The day of the first version, as an ISO 8601 date ('2015-02-11')."""
        return self.published.date().isoformat() if self.published else None

    @property
    def details(self) -> PaperDetails:
        """What a paper row takes from this: the arXiv id (and journal DOI), title, authors,
        the journal reference as venue, year, first publication, abstract, categories, links."""
        ids = [PaperId(kind="arxiv", value=self.arxiv_id)]
        doi = parse_paper_id(self.doi) if self.doi else None
        if isinstance(doi, PaperId) and doi.kind == "doi":
            ids.append(doi)
        return PaperDetails(
            ids=tuple(ids),
            title=self.title,
            authors=self.authors_display,
            venue=self.journal_ref,
            year=self.year,
            abstract=self.abstract or None,
            url=self.abs_url or None,
            pdf_url=self.pdf_url,
            published=self.published_date,
            categories=" ".join(self.categories),
        )


@dataclass(frozen=True, slots=True)
class ArxivResult:
    """Papers found, keyed by arXiv id without version; ids absent from it were not found."""

    papers: dict[str, ArxivPaper] = field(default_factory=dict)


# The one spacer of this process (arXiv counts requests per client, not per bot object).
PROCESS_SPACER = RequestSpacer()


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_arxiv_response(body: bytes) -> ArxivResult:
    """Parse an arXiv API Atom response. Blocking: call it in a worker thread.

    Raises `ArxivLookupError` for arXiv's error entry (`<id>.../api/errors#...</id>`) and for
    a body that is not an Atom feed at all.
    """
    parsed = feedparser.parse(body)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        raise ArxivLookupError(f"arXiv answered something that is not a feed ({reason})")
    papers: dict[str, ArxivPaper] = {}
    for entry in parsed.entries:
        entry_id = str(entry.get("id", ""))
        if "/api/errors" in entry_id or _text(entry.get("title")).lower() == "error":
            raise ArxivLookupError(f"arXiv error: {_text(entry.get('summary')) or entry_id}")
        match = ABS_ID.search(entry_id)
        if match is None:
            continue
        arxiv_id = match.group("id")
        version = int(match.group("version")) if match.group("version") else None
        categories: list[str] = []
        primary = entry.get("arxiv_primary_category") or {}
        if primary.get("term"):
            categories.append(str(primary["term"]))
        for tag in entry.get("tags", []) or []:
            term = str(tag.get("term") or "")
            if term and term not in categories:
                categories.append(term)
        pdf_url = None
        for link in entry.get("links", []) or []:
            if link.get("title") == "pdf" or link.get("type") == "application/pdf":
                # The API still answers with http:// links; arxiv.org redirects them.
                pdf_url = re.sub(
                    r"^http://(?=(?:export\.)?arxiv\.org/)", "https://", str(link.get("href"))
                )
        papers[arxiv_id] = ArxivPaper(
            arxiv_id=arxiv_id,
            version=version,
            title=_text(entry.get("title")),
            authors=tuple(
                _text(author.get("name"))
                for author in entry.get("authors", []) or []
                if _text(author.get("name"))
            ),
            abstract=_text(entry.get("summary")),
            published=_parse_date(entry.get("published")),
            categories=tuple(categories),
            doi=_text(entry.get("arxiv_doi")).lower() or None,
            journal_ref=_text(entry.get("arxiv_journal_ref")) or None,
            abs_url=f"https://arxiv.org/abs/{arxiv_id}",
            pdf_url=pdf_url or f"https://arxiv.org/pdf/{arxiv_id}",
        )
    return ArxivResult(papers=papers)


def title_search_query(title: str) -> str | None:
    """arXiv's `search_query` for papers titled like `title`, or None when it has no words.

    The title as a phrase (`ti:"..."`, arXiv ranks exact titles first), or else every
    significant word of it in the title in any order (`ti:w1 AND ti:w2 ...`): another word
    order, punctuation or a missing small word still finds the paper. Only the title's
    words, lower-cased, go into the query: quotes, colons, brackets and operators a member
    typed are separators, never syntax, so no field prefix or operator can be injected.
    """
    words = title_words(title)
    if not words:
        return None
    phrase = 'ti:"' + " ".join(words[:MAX_PHRASE_WORDS]) + '"'
    required = [
        word for word in significant_words(" ".join(words)) if word not in QUERY_OPERATOR_WORDS
    ][:MAX_REQUIRED_WORDS]
    if len(required) < 2:
        return phrase  # one word: the phrase says it all
    return f"{phrase} OR ({' AND '.join('ti:' + word for word in required)})"


_NOT_FOUND = object()


class ArxivClient:
    """Look-ups by arXiv id (without version) against `api_url`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        min_interval: float,
        timeout: float = DEFAULT_TIMEOUT,
        spacer: RequestSpacer | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.session = session
        self.api_url = api_url
        self.min_interval = min_interval
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.spacer = spacer or PROCESS_SPACER
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, object]] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[ArxivPaper | None]] = {}
        self._searches: OrderedDict[tuple[str, int], tuple[float, tuple[ArxivPaper, ...]]] = (
            OrderedDict()
        )
        self.requests_made = 0

    def _cached(self, arxiv_id: str) -> tuple[bool, ArxivPaper | None]:
        hit = self._cache.get(arxiv_id)
        if hit is None:
            return False, None
        expires_at, value = hit
        if expires_at < self._clock():
            del self._cache[arxiv_id]
            return False, None
        self._cache.move_to_end(arxiv_id)
        return True, None if value is _NOT_FOUND else value  # type: ignore[return-value]

    def _remember(self, arxiv_id: str, paper: ArxivPaper | None) -> None:
        ttl = FOUND_TTL if paper is not None else NOT_FOUND_TTL
        self._cache[arxiv_id] = (self._clock() + ttl, paper if paper is not None else _NOT_FOUND)
        self._cache.move_to_end(arxiv_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    async def lookup(self, arxiv_id: str) -> ArxivPaper | None:
        """The paper, or None when arXiv does not know the id; `ArxivLookupError` on failure."""
        found = await self.lookup_many([arxiv_id])
        return found.get(arxiv_id)

    async def lookup_many(self, arxiv_ids: Iterable[str]) -> dict[str, ArxivPaper]:
        """Look several ids up (one request per 50 not cached or in flight)."""
        wanted = list(dict.fromkeys(arxiv_ids))
        results: dict[str, ArxivPaper] = {}
        waiting: dict[str, asyncio.Future[ArxivPaper | None]] = {}
        to_fetch: list[str] = []
        for arxiv_id in wanted:
            is_cached, paper = self._cached(arxiv_id)
            if is_cached:
                if paper is not None:
                    results[arxiv_id] = paper
            elif arxiv_id in self._in_flight:
                waiting[arxiv_id] = self._in_flight[arxiv_id]
            else:
                to_fetch.append(arxiv_id)
        loop = asyncio.get_running_loop()
        own: dict[str, asyncio.Future[ArxivPaper | None]] = {
            arxiv_id: loop.create_future() for arxiv_id in to_fetch
        }
        self._in_flight.update(own)
        try:
            for start in range(0, len(to_fetch), MAX_IDS_PER_REQUEST):
                batch = to_fetch[start : start + MAX_IDS_PER_REQUEST]
                try:
                    fetched = await self._fetch(batch)
                except BaseException as exc:
                    for arxiv_id in to_fetch[start:]:
                        future = own[arxiv_id]
                        if not future.done():
                            future.set_exception(
                                exc
                                if isinstance(exc, ArxivLookupError)
                                else ArxivLookupError("the arXiv look-up was interrupted")
                            )
                    raise
                for arxiv_id in batch:
                    paper = fetched.papers.get(arxiv_id)
                    self._remember(arxiv_id, paper)
                    own[arxiv_id].set_result(paper)
                    if paper is not None:
                        results[arxiv_id] = paper
        finally:
            for arxiv_id, future in own.items():
                self._in_flight.pop(arxiv_id, None)
                # Nobody else may be waiting: keep "exception never retrieved" out of the log.
                if future.done() and not future.cancelled():
                    future.exception()
        for arxiv_id, future in waiting.items():
            paper = await asyncio.shield(future)
            if paper is not None:
                results[arxiv_id] = paper
        return results

    async def search_titles(self, title: str, *, limit: int = 10) -> list[ArxivPaper]:
        """Papers whose title has the words of `title`, best match first (arXiv's relevance
        order), at most `limit`; `ArxivLookupError` when arXiv cannot answer.

        Results are cached for a while, and each paper found is remembered by its id, so
        choosing one of them asks arXiv nothing more."""
        query = title_search_query(title)
        if query is None:
            return []
        limit = max(1, min(limit, MAX_TITLE_RESULTS))
        key = (query, limit)
        hit = self._searches.get(key)
        if hit is not None and hit[0] >= self._clock():
            self._searches.move_to_end(key)
            return list(hit[1])
        params = {
            "search_query": query,
            "start": "0",
            "max_results": str(limit),
            "sortBy": "relevance",
            "sortOrder": "descending",
        }
        result = await self._request(params)
        found = tuple(result.papers.values())[:limit]
        log.debug("arXiv title search %r found %d", query, len(found))
        for paper in found:
            self._remember(paper.arxiv_id, paper)
        self._searches[key] = (self._clock() + TITLE_SEARCH_TTL, found)
        self._searches.move_to_end(key)
        while len(self._searches) > TITLE_SEARCH_CACHE_SIZE:
            self._searches.popitem(last=False)
        return list(found)

    async def _fetch(self, arxiv_ids: list[str]) -> ArxivResult:
        params = {"id_list": ",".join(arxiv_ids), "max_results": str(len(arxiv_ids))}
        result = await self._request(params)
        log.debug("arXiv look-up of %s found %d", arxiv_ids, len(result.papers))
        return result

    async def _request(self, params: dict[str, str]) -> ArxivResult:
        """One request to the API, in this process's turn; the parsed answer."""
        await self.spacer.wait_turn(self.min_interval)
        self.requests_made += 1
        timeout = aiohttp.ClientTimeout(total=self.timeout, connect=min(self.timeout, 5.0))
        try:
            async with self.session.get(self.api_url, params=params, timeout=timeout) as response:
                if response.status != 200:
                    raise ArxivLookupError(f"arXiv answered HTTP {response.status}")
                body = await read_body(response, self.max_body_bytes)
        except TimeoutError as exc:
            raise ArxivLookupError(f"arXiv did not answer within {self.timeout:g} s") from exc
        except ResponseTooLarge as exc:
            raise ArxivLookupError(f"arXiv's answer was unexpectedly large: {exc}") from exc
        except aiohttp.ClientError as exc:
            reason = exc.__class__.__name__
            raise ArxivLookupError(f"arXiv could not be reached ({reason})") from exc
        return await asyncio.to_thread(parse_arxiv_response, body)
