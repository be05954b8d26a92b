"""Looking papers up by DOI on Crossref's REST API (`{CROSSREF_API_URL}/works/{doi}`), politely.

Crossref asks clients to say who they are (its "polite pool"): with a contact address set
(CROSSREF_MAILTO), every request carries it both in the User-Agent
(`shortscience-bot/1.0 (+https://www.shortscience.org; mailto:you@example.org)`) and as the
`mailto` parameter. Requests go one at a time (within any concurrency limit) and are spaced
as Crossref's `x-rate-limit-limit` / `x-rate-limit-interval` headers say, read from every
answer; a 429 stops every request until its Retry-After has passed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import yarl

from bot import __version__
from bot.feeds.text import collapse_whitespace, html_to_text
from bot.net import ResponseTooLarge, parse_retry_after, read_body
from bot.pacing import RequestSpacer
from bot.papers import PaperId
from bot.storage.papers import PaperDetails

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 15.0
# A work record with a long reference list runs to a few hundred KB.
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
# Spacing before Crossref's first answer tells its limits, and the shortest spacing used
# whatever the headers allow: a background job has no reason to go faster.
DEFAULT_REQUEST_INTERVAL: Final = 1.0
MIN_REQUEST_INTERVAL: Final = 0.1
# How long to stop after a 429 that does not say (Retry-After).
DEFAULT_RATE_LIMIT_PAUSE: Final = 60.0
# Date fields of a work record, best first: `published` is the earliest of print and online.
_DATE_FIELDS: Final = ("published", "issued", "published-online", "published-print")
_INTERVAL: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_JATS_PREFIX: Final = re.compile(r"<(/?)(?:jats|mml):", re.IGNORECASE)


class CrossrefLookupError(Exception):
    """Crossref could not answer for a DOI.

    `service_trouble` is True when the service itself is failing (a timeout, a 5xx, a broken
    connection), so other DOIs would fail too; False for an answer about this DOI only.
    """

    def __init__(self, message: str, *, service_trouble: bool) -> None:
        super().__init__(message)
        self.service_trouble = service_trouble


class CrossrefRateLimited(CrossrefLookupError):
    """Crossref asked us to slow down: no request before `retry_after` seconds from now."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"Crossref asked to wait {retry_after:.0f} s (rate limit)", service_trouble=True
        )
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class CrossrefWork:
    """What Crossref tells about one DOI."""

    doi: str
    title: str
    authors: tuple[str, ...]
    venue: str | None  # the journal or proceedings ("container-title")
    published: str | None  # ISO 8601, as precise as Crossref knows: '2015-05-27', '2015-05'
    abstract: str | None

    @property
    def year(self) -> int | None:
        return int(self.published[:4]) if self.published else None

    @property
    def details(self) -> PaperDetails:
        """What a paper row takes from this record."""
        return PaperDetails(
            ids=(PaperId(kind="doi", value=self.doi),),
            title=self.title,
            authors=", ".join(self.authors),
            venue=self.venue,
            year=self.year,
            abstract=self.abstract,
            published=self.published,
        )


def _first_text(value: Any) -> str:
    """The first string of a Crossref list field (title, container-title), as plain text."""
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str) and item.strip()), "")
    return markup_to_text(value) if isinstance(value, str) else ""


def markup_to_text(markup: str, *, paragraphs: bool = False) -> str:
    """Crossref's text fields may hold JATS or HTML (`<jats:p>`, `<i>`, MathML): the text.

    JATS titles (`<jats:title>Abstract</jats:title>`) are dropped, as `html_to_text` drops
    `<title>`; `paragraphs=True` keeps paragraph breaks.
    """
    text = html_to_text(_JATS_PREFIX.sub(r"<\1", markup))
    if paragraphs:
        return "\n\n".join(collapse_whitespace(part) for part in text.split("\n\n") if part.strip())
    return collapse_whitespace(text)


def _author_name(author: Any) -> str:
    if not isinstance(author, Mapping):
        return ""
    given, family = author.get("given"), author.get("family")
    parts = [part for part in (given, family) if isinstance(part, str) and part.strip()]
    name = " ".join(parts) if parts else author.get("name")
    return markup_to_text(name) if isinstance(name, str) else ""


def _date(message: Mapping[str, Any]) -> str | None:
    """The first well-formed date of `_DATE_FIELDS`, ISO 8601 to the precision given."""
    for name in _DATE_FIELDS:
        field = message.get(name)
        parts = field.get("date-parts") if isinstance(field, Mapping) else None
        if not isinstance(parts, list) or not parts or not isinstance(parts[0], list):
            continue
        numbers = parts[0][:3]
        if not numbers or not all(type(n) is int for n in numbers):  # not None, bool, text
            continue
        year, *rest = numbers
        if not 1000 <= year <= 9999:
            continue
        text = f"{year:04d}"
        if rest and 1 <= rest[0] <= 12:
            text += f"-{rest[0]:02d}"
            if len(rest) > 1 and 1 <= rest[1] <= 31:
                text += f"-{rest[1]:02d}"
        return text
    return None


def parse_crossref_work(body: bytes, doi: str) -> CrossrefWork:
    """Parse a `/works/{doi}` answer. Blocking (JSON of up to a few MB): call it in a thread.

    Raises `CrossrefLookupError` for anything that is not a work record.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CrossrefLookupError(
            f"Crossref answered something that is not JSON ({exc.__class__.__name__})",
            service_trouble=True,
        ) from exc
    message = document.get("message") if isinstance(document, dict) else None
    if not isinstance(message, dict) or document.get("message-type", "work") != "work":
        raise CrossrefLookupError(
            "Crossref answered something that is not a work record", service_trouble=True
        )
    abstract = message.get("abstract")
    abstract_text = markup_to_text(abstract, paragraphs=True) if isinstance(abstract, str) else ""
    authors = tuple(name for name in map(_author_name, message.get("author") or []) if name)
    return CrossrefWork(
        doi=doi,
        title=_first_text(message.get("title")),
        authors=authors,
        venue=_first_text(message.get("container-title"))
        or _first_text(message.get("short-container-title"))
        or None,
        published=_date(message),
        abstract=abstract_text or None,
    )


def parse_rate_limit(headers: Mapping[str, str]) -> float | None:
    """Seconds between requests that Crossref's `x-rate-limit-limit` (requests) per
    `x-rate-limit-interval` ('1s') allow; None when the headers are absent or unreadable.

    `headers` as aiohttp gives them (names in any case), or a dict with lower-case names."""
    limit, interval = headers.get("x-rate-limit-limit"), headers.get("x-rate-limit-interval")
    if not limit or not interval:
        return None
    match = _INTERVAL.match(interval)
    try:
        requests = int(limit.strip())
    except ValueError:
        return None
    if match is None or requests <= 0:
        return None
    seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    return seconds / requests


def crossref_user_agent(mailto: str | None) -> str:
    """The User-Agent Crossref asks for: the tool, its site, and a contact address."""
    contact = f"; mailto:{mailto}" if mailto else ""
    return f"shortscience-bot/{__version__} (+https://www.shortscience.org{contact})"


class CrossrefClient:
    """Look-ups of single DOIs, one request at a time, spaced as Crossref asks."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        mailto: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        spacer: RequestSpacer | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.session = session
        self.api_url = api_url.rstrip("/")
        self.mailto = mailto
        self.timeout = timeout
        self.spacer = spacer or RequestSpacer()
        self.max_body_bytes = max_body_bytes
        self.request_interval = DEFAULT_REQUEST_INTERVAL
        self.requests_made = 0
        self._clock = clock
        self._paused_until = float("-inf")
        self._one_at_a_time = asyncio.Lock()

    def paused_for(self) -> float:
        """Seconds left before Crossref may be asked again (0 when it may be now)."""
        return max(0.0, self._paused_until - self._clock())

    def work_url(self, doi: str) -> yarl.URL:
        # DOIs may hold ';', '<', '#', '?'...: escape all but the slash between their parts.
        return yarl.URL(f"{self.api_url}/works/{quote(doi, safe='/')}", encoded=True)

    async def lookup(self, doi: str) -> CrossrefWork | None:
        """The work, or None when Crossref does not know the DOI (404).

        Raises `CrossrefRateLimited` while paused after a 429, and `CrossrefLookupError`
        for every other failure.
        """
        async with self._one_at_a_time:
            waiting = self.paused_for()
            if waiting > 0:
                raise CrossrefRateLimited(waiting)
            await self.spacer.wait_turn(self.request_interval)
            self.requests_made += 1
            return await self._fetch(doi)

    async def _fetch(self, doi: str) -> CrossrefWork | None:
        headers = {"User-Agent": crossref_user_agent(self.mailto), "Accept": "application/json"}
        params = {"mailto": self.mailto} if self.mailto else None
        timeout = aiohttp.ClientTimeout(total=self.timeout, connect=min(self.timeout, 5.0))
        try:
            async with self.session.get(
                self.work_url(doi), params=params, headers=headers, timeout=timeout
            ) as response:
                self._follow_rate_limit(response.headers)
                status = response.status
                if status == 404:
                    return None
                if status == 429:
                    pause = parse_retry_after(response.headers.get("Retry-After"))
                    pause = DEFAULT_RATE_LIMIT_PAUSE if pause is None else pause
                    self._paused_until = self._clock() + pause
                    log.warning("Crossref rate limit reached: pausing look-ups for %.0f s", pause)
                    raise CrossrefRateLimited(pause)
                if status != 200:
                    raise CrossrefLookupError(
                        f"Crossref answered HTTP {status}", service_trouble=status >= 500
                    )
                body = await read_body(response, self.max_body_bytes)
        except TimeoutError as exc:
            raise CrossrefLookupError(
                f"Crossref did not answer within {self.timeout:g} s", service_trouble=True
            ) from exc
        except ResponseTooLarge as exc:
            raise CrossrefLookupError(
                f"Crossref's answer was unexpectedly large: {exc}", service_trouble=False
            ) from exc
        except aiohttp.ClientError as exc:
            raise CrossrefLookupError(
                f"Crossref could not be reached ({exc.__class__.__name__})", service_trouble=True
            ) from exc
        return await asyncio.to_thread(parse_crossref_work, body, doi)

    def _follow_rate_limit(self, headers: Mapping[str, str]) -> None:
        interval = parse_rate_limit(headers)
        if interval is not None:
            self.request_interval = max(interval, MIN_REQUEST_INTERVAL)
