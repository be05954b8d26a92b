"""Feed entries into papers and summaries: the one path used by `import`, and by the poller.

Each entry becomes a feed summary (deduplicated by its external id, so re-importing changes
nothing and an edited entry updates its row) attached to a paper found or created from the
entry's identifiers. Work is done in batches: a few statements per batch, not per entry,
because every statement is a hand-off to the database (aiosqlite's thread, or a round trip
to PostgreSQL).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import aiohttp

from bot.collector import collections_held_back
from bot.feeds.fetch import FetchResult, fetch_feed
from bot.feeds.models import FeedEntry, ParsedFeed
from bot.feeds.stream import FeedStream
from bot.papers import PaperId, find_paper_ids, parse_paper_id
from bot.storage.database import Connection, Database
from bot.storage.papers import PaperDetails, PaperRepository, bulk_write_cache
from bot.storage.summaries import ExternalSummary, SummaryKind, SummaryRepository

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE: Final = 1000
# Batches of an import (one transaction each): fewer statements and commits, and the search
# index applies each batch as one commit, while a write lock is held for well under a second
# at a time.
IMPORT_BATCH_SIZE: Final = 2000
# An import may be a full dump, far bigger than a polled feed.
IMPORT_MAX_BYTES: Final = 512 * 1024 * 1024
ANONYMOUS: Final = "Anonymous"

ProgressCallback = Callable[[int, int], None]


class FeedImportError(Exception):
    """An import could not be done; the message says why, for the person who ran it."""


@dataclass(frozen=True, slots=True)
class IngestedEntry:
    """What became of one entry: its summary row and whether it was new, edited or known."""

    entry: FeedEntry
    summary_id: int
    paper_id: int | None
    status: Literal["inserted", "updated", "unchanged"]


@dataclass(slots=True)
class IngestStats:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    papers_created: int = 0
    # Per entry, in input order (ingest_entries only; import_source leaves it empty).
    results: list[IngestedEntry] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def add(self, other: IngestStats, *, keep_results: bool = True) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.papers_created += other.papers_created
        if keep_results:
            self.results.extend(other.results)


async def ingest_entries(
    db: Database,
    entries: Sequence[FeedEntry],
    *,
    origin_feed_title: str | None = None,
    conn: Connection | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> IngestStats:
    """Store `entries` as feed summaries with their papers; idempotent.

    With `conn`, everything joins the caller's transaction (the poller writes entries and its
    outbox atomically); without, each batch of `batch_size` entries commits on its own, so a
    huge import keeps memory and lock times bounded. `progress(done, total)` is called after
    each batch.
    """
    stats = IngestStats()
    papers = PaperRepository(db)
    summaries = SummaryRepository(db)
    total = len(entries)
    for start in range(0, total, batch_size):
        batch = entries[start : start + batch_size]
        if conn is not None:
            batch_stats = await _ingest_batch(papers, summaries, batch, conn)
        else:
            # Re-run from the start if it lost a race with another writer (PostgreSQL).
            batch_stats = await db.run_transaction(
                lambda own, batch=batch: _ingest_batch(papers, summaries, batch, own)  # type: ignore[misc]
            )
        stats.add(batch_stats)
        if progress is not None:
            progress(min(start + batch_size, total), total)
    log.debug(
        "Ingested %d entries from %s: %d new, %d edited, %d known, %d new papers",
        total, origin_feed_title or "a feed", stats.inserted, stats.updated, stats.unchanged,
        stats.papers_created,
    )  # fmt: skip
    return stats


async def _ingest_batch(
    papers: PaperRepository,
    summaries: SummaryRepository,
    batch: Sequence[FeedEntry],
    conn: Connection,
) -> IngestStats:
    details = [paper_details(entry) for entry in batch]
    with_paper = [index for index, item in enumerate(details) if item is not None]
    resolved = await papers.resolve_many([details[i] for i in with_paper], conn=conn)  # type: ignore[misc]
    paper_ids: list[int | None] = [None] * len(batch)
    abstracts: list[str | None] = [None] * len(batch)
    for index, resolved_id, abstract in zip(
        with_paper, resolved.paper_ids, resolved.abstracts, strict=True
    ):
        paper_ids[index] = resolved_id
        abstracts[index] = abstract

    rows = [
        ExternalSummary(
            external_id=entry.external_id,
            body=entry.content,
            title=entry.title,
            author_name=(entry.author or "").strip() or ANONYMOUS,
            paper_id=paper_id,
            url=entry.link,
            score=entry.votes or 0,
            created_at=entry.published or entry.updated,
            edited_at=entry.updated or entry.published,
            kind=entry_kind(entry, abstract),
        )
        for entry, paper_id, abstract in zip(batch, paper_ids, abstracts, strict=True)
    ]
    outcomes = await summaries.upsert_external_many(rows, conn=conn)
    stats = IngestStats(papers_created=resolved.created)
    for entry, paper_id, outcome in zip(batch, paper_ids, outcomes, strict=True):
        if outcome.status == "inserted":
            stats.inserted += 1
        elif outcome.status == "updated":
            stats.updated += 1
        else:
            stats.unchanged += 1
        stats.results.append(IngestedEntry(entry, outcome.summary_id, paper_id, outcome.status))
    return stats


def entry_kind(entry: FeedEntry, paper_abstract: str | None) -> SummaryKind:
    """Whether an entry is a summary of its paper or the paper itself (its abstract).

    What the feed says wins (arXiv entries and articles naming their own DOI are abstracts,
    ShortScience's are summaries). Any other entry is the paper's abstract when its text is
    the abstract known for its paper, else a summary: a blog post mentioning a paper, or
    linking to it, is still a post about it.
    """
    if entry.kind is not None:
        return entry.kind
    return "abstract" if is_abstract_text(entry.content, paper_abstract) else "summary"


_WORD = re.compile(r"\w+")
# A feed that cuts an abstract short says so with an ellipsis; what is left must still be
# long enough to be recognised.
_ELLIPSES = ("…", "...", "[…]", "[...]")
MIN_TRUNCATED_WORDS: Final = 20


def is_abstract_text(text: str, abstract: str | None) -> bool:
    """Whether `text` is `abstract`: the same words whatever the case, spacing, punctuation
    or markup (and an "Abstract" label before them), or its opening cut off with an
    ellipsis."""
    if not abstract:
        return False
    words, wanted = _WORD.findall(text.casefold()), _WORD.findall(abstract.casefold())
    if words[:1] == ["abstract"] and wanted[:1] != ["abstract"]:
        words = words[1:]
    if not words or not wanted:
        return False
    if words == wanted:
        return True
    if not text.rstrip().endswith(_ELLIPSES) or len(words) < MIN_TRUNCATED_WORDS:
        return False
    # The last word may be cut in the middle.
    kept = words[:-1]
    return len(kept) < len(wanted) and wanted[: len(kept)] == kept


def paper_details(entry: FeedEntry) -> PaperDetails | None:
    """The paper an entry is about, if it names one.

    ShortScience and arXiv entries carry their identifiers explicitly. For other feeds, an
    arXiv id or DOI in the link, guid or title counts; one found only in the text counts when
    the text names a single paper (a digest of ten papers is about none of them).
    """
    ids: list[PaperId] = []
    if entry.arxiv_id:
        ids.append(PaperId(kind="arxiv", value=entry.arxiv_id, version=None))
    if entry.doi:
        parsed = parse_paper_id(entry.doi)
        if isinstance(parsed, PaperId):
            ids.append(PaperId(kind=parsed.kind, value=parsed.value, version=None))
    if entry.bibtex_key:
        key = PaperId(kind="bibtex", value=entry.bibtex_key, version=None)
        ids.append(key)
        ids.extend(implied for implied in key.equivalent_ids[1:] if implied not in ids)
    explicit = bool(ids)
    if not explicit:
        ids = _ids_mentioned(entry)
        if not ids:
            return None
    ids = _one_per_kind(ids)

    arxiv = next((paper_id for paper_id in ids if paper_id.kind == "arxiv"), None)
    if explicit:
        title = entry.paper_title or ""
        authors = entry.paper_authors or ""
    else:
        # A blog post's title is not the paper's: leave the paper's to a better source.
        title = authors = ""
    url = None
    if arxiv is not None:
        url = f"https://arxiv.org/abs/{arxiv.value}"
    elif entry.bibtex_key and entry.link:
        url = _without_fragment(entry.link)
    return PaperDetails(
        ids=tuple(ids),
        title=title,
        authors=authors,
        venue=entry.journal_ref,
        year=_arxiv_year(arxiv.value) if arxiv is not None else None,
        abstract=entry.abstract,
        url=url,
        pdf_url=entry.pdf_url or (f"https://arxiv.org/pdf/{arxiv.value}" if arxiv else None),
    )


def _ids_mentioned(entry: FeedEntry) -> list[PaperId]:
    for text in (entry.link, entry.guid, entry.title):
        if text:
            found = find_paper_ids(text)
            if found:
                return found
    found = find_paper_ids(entry.content_html or entry.content)
    arxiv_ids = {paper_id.value for paper_id in found if paper_id.kind == "arxiv"}
    dois = {paper_id.value for paper_id in found if paper_id.kind == "doi"}
    if len(arxiv_ids) > 1 or len(dois) > 1:
        return []
    return found


def _one_per_kind(ids: list[PaperId]) -> list[PaperId]:
    chosen: dict[str, PaperId] = {}
    for paper_id in ids:
        chosen.setdefault(paper_id.kind, PaperId(kind=paper_id.kind, value=paper_id.value))
    return list(chosen.values())


def _arxiv_year(arxiv_id: str) -> int | None:
    """The year an arXiv id was assigned: from YYMM.NNNNN or archive/YYMMNNN."""
    digits = arxiv_id.split("/", 1)[1] if "/" in arxiv_id else arxiv_id
    if len(digits) < 2 or not digits[:2].isdigit():
        return None
    two_digit = int(digits[:2])
    return 1900 + two_digit if two_digit >= 91 else 2000 + two_digit


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


# --- import from a file or URL ----------------------------------------------------------------


async def import_source(
    db: Database,
    session: aiohttp.ClientSession | None,
    path_or_url: str,
    *,
    progress: ProgressCallback | None = None,
    batch_size: int = IMPORT_BATCH_SIZE,
    max_bytes: int = IMPORT_MAX_BYTES,
) -> IngestStats:
    """Import a feed file (optionally gzip-compressed) or an http(s) feed URL.

    A web page that advertises a feed is followed to its first feed. Raises FeedImportError
    with a readable message when the source cannot be read or is not a feed. `session` may be
    None, in which case one is opened for a URL. The returned stats have no per-entry results.

    The file is parsed a batch at a time (in a worker thread), so memory stays flat.
    `progress(done, total)` is called after each batch; `total` is an estimate (a count of
    `<item` tags) until the end, when it is called once more with the exact numbers.
    """
    if path_or_url.startswith(("http://", "https://")):
        stream = await _stream_url(session, path_or_url, max_bytes, batch_size)
    else:
        stream = await asyncio.to_thread(_stream_file, path_or_url, batch_size)

    stats = IngestStats()
    # The next batch is not parsed while this one is stored: on two cores, parsing, storing
    # and the search indexer already keep both busy. Overlapping them, side by side at
    # 100,000 summaries: 4-5% faster in two pairs on quick minutes, 17% and 1% slower in
    # two pairs on a slow spell (the machine's noise either way).
    batch = await asyncio.to_thread(stream.next_batch)
    _check_feed(stream.feed, path_or_url, empty=batch is None)
    if progress is not None:
        progress(0, max(stream.estimated_total, len(batch or [])))
    done = 0
    async with bulk_write_cache(db):
        with collections_held_back():
            while batch is not None:
                batch_stats = await ingest_entries(
                    db, batch, origin_feed_title=stream.feed.title, batch_size=len(batch)
                )
                stats.add(batch_stats, keep_results=False)
                done += len(batch)
                if progress is not None:
                    progress(done, max(stream.estimated_total, done))
                batch = await asyncio.to_thread(stream.next_batch)
    for problem in stream.feed.bozo:
        log.warning("%s: %s", path_or_url, problem)
    if progress is not None:
        progress(done, done)
    return stats


def _check_feed(feed: ParsedFeed, source: str, *, empty: bool) -> None:
    if not feed.is_feed:
        raise FeedImportError(f"{source}: {feed.error or 'not a feed'}")
    if feed.error and empty:
        raise FeedImportError(f"{source}: {feed.error}")


def _stream_file(name: str, batch_size: int) -> FeedStream:
    path = Path(name).expanduser()
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise FeedImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FeedImportError(f"{path}: is a directory, not a feed file") from None
    except OSError as exc:
        raise FeedImportError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise FeedImportError(f"{path}: broken gzip file ({exc})") from None
    return FeedStream(body, url=path.resolve().as_uri(), batch_size=batch_size)


async def _stream_url(
    session: aiohttp.ClientSession | None, url: str, max_bytes: int, batch_size: int
) -> FeedStream:
    if session is None:
        async with aiohttp.ClientSession() as own_session:
            return await _stream_url(own_session, url, max_bytes, batch_size)
    result = await _fetch_or_raise(session, url, max_bytes)
    stream = await asyncio.to_thread(
        FeedStream, result.body, url=result.final_url, headers=result.headers, batch_size=batch_size
    )
    if not stream.incremental and not stream.feed.is_feed and stream.feed.discovered_feeds:
        feed_url = stream.feed.discovered_feeds[0].url
        log.info("%s is a page; importing the feed it links to, %s", url, feed_url)
        result = await _fetch_or_raise(session, feed_url, max_bytes)
        stream = await asyncio.to_thread(
            FeedStream,
            result.body,
            url=result.final_url,
            headers=result.headers,
            batch_size=batch_size,
        )
    return stream


async def _fetch_or_raise(session: aiohttp.ClientSession, url: str, max_bytes: int) -> FetchResult:
    result = await fetch_feed(session, url, max_bytes=max_bytes, total_timeout=300)
    if not result.ok:
        raise FeedImportError(f"{url}: {result.error_message or 'could not be fetched'}")
    return result
