"""What a parsed feed and its entries look like, independent of the feed's format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FeedFormat = Literal[
    "shortscience",  # ShortScience.org RSS with the shortscience: namespace
    "arxiv-rss",  # rss.arxiv.org announcement feeds
    "arxiv-api",  # export.arxiv.org/api/query Atom results
    "rss090",
    "rss091",
    "rss092",
    "rss10",
    "rss20",
    "atom10",
    "other",  # recognised by feedparser only (Atom 0.3, CDF, ...)
    "none",  # not a feed
]

AnnounceType = Literal["new", "cross", "replace", "replace-cross"]
# What an entry is, when its feed says so: "summary" (ShortScience: a member's summary of a
# paper) or "abstract" (the paper itself: an arXiv announcement, a journal's table of
# contents naming the article's DOI). None: the feed does not say (any other feed); ingest
# then compares the text with the paper's abstract (`bot.ingest.entry_kind`).
EntryKind = Literal["summary", "abstract"]


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item of a feed, with the paper identifiers and summary fields the bot uses.

    `content` is the text to store as the summary body: ShortScience's Markdown exactly as
    written, an arXiv abstract, or the plain text of an HTML description (whose original is
    kept in `content_html`).
    """

    identity: str  # sha256 hex, unique within the feed (see `choose_identity`)
    external_id: str  # globally stable id for deduplication in the database
    guid: str | None = None
    link: str | None = None
    title: str = ""
    author: str | None = None
    content: str = ""
    content_html: str | None = None
    published: datetime | None = None  # UTC
    updated: datetime | None = None  # UTC
    arxiv_id: str | None = None  # without version
    arxiv_version: int | None = None
    doi: str | None = None
    bibtex_key: str | None = None
    votes: int | None = None
    announce_type: str | None = None
    categories: tuple[str, ...] = ()
    paper_title: str | None = None
    paper_authors: str | None = None
    abstract: str | None = None
    pdf_url: str | None = None
    journal_ref: str | None = None
    kind: EntryKind | None = None

    @property
    def date(self) -> datetime | None:
        """The latest date the feed gives for this entry (the last edit when known)."""
        return self.updated or self.published


@dataclass(frozen=True, slots=True)
class DiscoveredFeed:
    """A feed advertised by an HTML page with `<link rel="alternate">`."""

    url: str
    title: str | None
    type: str


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The result of `parse_feed`: a feed with entries, or why the body is not one."""

    is_feed: bool
    format: FeedFormat
    title: str = ""
    link: str | None = None
    description: str | None = None
    ttl: int | None = None  # minutes, from RSS <ttl>
    entries: list[FeedEntry] = field(default_factory=list)
    # Problems that were recovered from (feedparser's "bozo" conditions), human readable.
    bozo: list[str] = field(default_factory=list)
    # For pages that are not feeds: the feeds they link to, resolved against the page URL.
    discovered_feeds: list[DiscoveredFeed] = field(default_factory=list)
    # Set when the body is not a usable feed, or the feed reports an error (arXiv API).
    error: str | None = None
    encoding: str | None = None
