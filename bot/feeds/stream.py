"""Read a big feed (a ShortScience dump of 100,000 items) in batches, for imports.

`FeedStream.next_batch()` parses only as far as the next `batch_size` items, so an importer
holds one batch of entries at a time, not a tree of the whole dump. Well-formed UTF-8 RSS is
read incrementally; anything else is read whole with `parse_feed` and handed out in slices,
with the same entries.

Entries are exactly those `parse_feed` gives, except `identity`, which is chosen per batch
rather than over the whole feed (the same whenever every item has a unique guid, as
ShortScience's do). Imports do not use it; pollers should use `parse_feed`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Final

from bot.feeds.models import FeedEntry, FeedFormat, ParsedFeed
from bot.feeds.parse import (
    _absolute,
    _clean_title,
    _declared_utf8,
    _Draft,
    _finish,
    _int_or_none,
    _link_base,
    _rss_entry,
    parse_feed,
)

_CHUNK: Final = 1024 * 1024
_RSS_START: Final = re.compile(
    rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:(?:<!--.*?-->|<\?[^>]*\?>|<!DOCTYPE[^>\[]*>)\s*)*<rss[\s>]",
    re.DOTALL,
)


class _ReadWhole(Exception):
    """The incremental reader cannot give the same result as parse_feed: read it whole."""


class FeedStream:
    """Batches of entries from one feed body; call `next_batch()` (in a thread) until None.

    `feed` describes the feed (title, link, format, ttl, is_feed, error, discovered feeds);
    it is complete once `next_batch()` has returned None. `estimated_total` is a quick count
    of `<item` tags (or the exact count when the feed was read whole), for progress bars.
    """

    def __init__(
        self,
        body: bytes,
        *,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 1000,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.url = url
        self.headers = headers
        self.batch_size = batch_size
        self.feed = ParsedFeed(is_feed=True, format="none")
        self._body = body
        self._batches = self._read()
        self._given: list[str] = []  # external ids handed out, in order
        content_type = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type")
        self._utf8 = _declared_utf8(body, content_type)
        self.incremental = bool(self._utf8 is not None and _RSS_START.match(self._utf8[:4096]))
        self.estimated_total = 0
        if self.incremental:
            self.estimated_total = body.count(b"<item>") + body.count(b"<item ")
        else:
            self._whole = parse_feed(body, url=url, headers=headers)
            self.feed = self._whole
            self.estimated_total = len(self._whole.entries)

    def next_batch(self) -> list[FeedEntry] | None:
        """The next entries (never an empty list), or None when there are no more."""
        return next(self._batches, None)

    def _read(self) -> Iterator[list[FeedEntry]]:
        if self.incremental:
            try:
                yield from self._read_incrementally()
                return
            except (ET.ParseError, _ReadWhole):
                whole = parse_feed(self._body, url=self.url, headers=self.headers)
                self.feed = whole
                self.estimated_total = len(whole.entries)
                entries = whole.entries
                given = [entry.external_id for entry in entries[: len(self._given)]]
                # The lenient parser usually recovers the same first entries: skip those.
                start = len(self._given) if given == self._given else 0
                yield from self._slices(entries[start:])
                return
        yield from self._slices(self._whole.entries)

    def _slices(self, entries: list[FeedEntry]) -> Iterator[list[FeedEntry]]:
        for start in range(0, len(entries), self.batch_size):
            batch = entries[start : start + self.batch_size]
            self._given.extend(entry.external_id for entry in batch)
            yield batch

    def _read_incrementally(self) -> Iterator[list[FeedEntry]]:
        assert self._utf8 is not None
        parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        path: list[str] = []
        title: str | None = None
        link: str | None = None
        ttl: int | None = None
        version = "2.0"
        kinds: set[str] = set()
        drafts: list[_Draft] = []
        seen_channel = False

        def emit() -> list[FeedEntry]:
            entries = _finish(drafts, link or "")
            if link is None and any(e.external_id.startswith("urn:sha256:") for e in entries):
                # Hashed ids are scoped by the channel's link, not known yet (or ever).
                raise _ReadWhole
            self._given.extend(entry.external_id for entry in entries)
            return entries

        for offset in range(0, len(self._utf8) + 1, _CHUNK):
            chunk = self._utf8[offset : offset + _CHUNK]
            if chunk:
                parser.feed(chunk)
            else:
                parser.close()
            for event_and_item in parser.read_events():
                # Only "start" and "end" were asked for: each is (event, element).
                event, element = event_and_item[0], event_and_item[-1]
                assert isinstance(element, ET.Element)
                if event == "start":
                    if not path:
                        version = element.get("version", "2.0").strip()
                    path.append(element.tag)
                    seen_channel |= element.tag == "channel"
                    continue
                path.pop()
                tag = element.tag
                if tag == "item":
                    drafts.append(_rss_entry(element, _link_base(self.url, link), kinds))
                    element.clear()  # keep memory flat on huge dumps
                    if len(drafts) >= self.batch_size:
                        yield emit()
                        drafts = []
                elif path == ["rss", "channel"]:
                    if tag == "title":
                        title = _clean_title(element.text)
                    elif tag == "link" and link is None:
                        link = _absolute(element.text, self.url)
                    elif tag == "ttl":
                        ttl = _int_or_none(element.text)
            if not chunk:
                break
        if not seen_channel:
            raise _ReadWhole
        if drafts:
            yield emit()
        self.feed = ParsedFeed(
            is_feed=True,
            format=_format(kinds, version),
            title=title or "",
            link=link,
            ttl=ttl,
            encoding="utf-8",
        )


def _format(kinds: set[str], version: str) -> FeedFormat:
    if "shortscience" in kinds:
        return "shortscience"
    if "arxiv" in kinds:
        return "arxiv-rss"
    versions: dict[str, FeedFormat] = {"0.91": "rss091", "0.92": "rss092", "0.93": "rss092"}
    return versions.get(version, "rss20")
