"""Turn a feed body (bytes) into a `ParsedFeed`.

Well-formed RSS 0.9x/1.0/2.0 and Atom 1.0 are read with ElementTree, which is an order of
magnitude faster than feedparser on large files (a 100,000-item ShortScience dump) and gives
the raw text of every element, so ShortScience's Markdown is kept byte for byte. Anything
else (broken XML, Atom 0.3, odd dialects) goes through feedparser, whose lenient parser
recovers what it can. HTML pages are searched for `<link rel="alternate">` feed links.

Everything here is synchronous and CPU-bound: the bot runs it in worker processes
(`bot.feeds.workers`), never on the event loop.
"""

from __future__ import annotations

import codecs
import email.utils
import hashlib
import re
import xml.etree.ElementTree as ET
import xml.sax
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, Protocol
from urllib.parse import parse_qs, urljoin, urlsplit

import feedparser

# feedparser's date parser knows many odd formats; it is internal but stable across 6.x.
from feedparser.datetimes import _parse_date as feedparser_parse_date

from bot.feeds.models import DiscoveredFeed, EntryKind, FeedEntry, FeedFormat, ParsedFeed
from bot.feeds.text import collapse_whitespace, html_to_text, looks_like_html
from bot.papers import PaperId, parse_paper_id
from bot.rendering.text import plural

NS_ATOM = "http://www.w3.org/2005/Atom"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_RSS10 = "http://purl.org/rss/1.0/"
NS_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_CONTENT = "http://purl.org/rss/1.0/modules/content/"
NS_ARXIV = "http://arxiv.org/schemas/atom"
NS_XML = "http://www.w3.org/XML/1998/namespace"
# PRISM (prism:doi), in which publishers' and preprint servers' tables of contents name each
# article: 1.2, 2.0 and 3.0 live under this host.
PRISM_HOST = "prismstandard.org"

FEED_LINK_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml"}
)

_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_ARXIV_OAI_GUID = re.compile(r"^oai:arXiv\.org:(.+?)(?:v(\d+))?$", re.IGNORECASE)
_ARXIV_ABS_URL = re.compile(
    r"^https?://(?:www\.|export\.)?arxiv\.org/abs/(.+?)(?:v(\d+))?/?$", re.IGNORECASE
)
_NEW_STYLE_ARXIV_ID = re.compile(r"^(\d{4})\.(\d{4,5})(?:v([1-9]\d{0,2}))?$")
_ARXIV_DESCRIPTION = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>\S+)\s*(?:Abstract:\s*)?(?P<abstract>.*)$",
    re.DOTALL,
)
# The usual RSS date, parsed without email.utils (ten times faster on big dumps).
_RFC822_DATE = re.compile(
    r"^(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?"
    r"\s*(GMT|UTC|UT|Z|[+-]\d{4})$"
)
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
)}  # fmt: skip
_RSS_AUTHOR_WITH_EMAIL = re.compile(r"^\s*\S+@\S+\s*\((?P<name>[^)]+)\)\s*$")
# The dates a feed entry may have (see `parse_date`) and the vote counts it may claim.
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)
LATEST_DATE_AHEAD = timedelta(days=1)
MAX_FEED_VOTES = 100_000
_HTMLISH_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)

# Python text codecs that are no character set a document is written in: `undefined` always
# raises, punycode and idna are quadratic on a long body, and the escape codecs (and UTF-7,
# which browsers refuse too) would turn the bytes into other text than was sent.
_NOT_DOCUMENT_CHARSETS = frozenset(
    {
        "undefined",
        "punycode",
        "idna",
        "unicode-escape",
        "raw-unicode-escape",
        "utf-7",
        "mbcs",
        "oem",
    }
)
# WHATWG: pages labelled ISO-8859-1 are really windows-1252 (curly quotes at 0x91-0x94).
_ENCODING_ALIASES = dict.fromkeys(
    ("iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii"), "windows-1252"
)


class _IdentitySource(Protocol):
    @property
    def guid(self) -> str | None: ...
    @property
    def link(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def date(self) -> datetime | None: ...


# --- public API -------------------------------------------------------------------------------


def parse_feed(
    body: bytes, *, url: str | None = None, headers: Mapping[str, str] | None = None
) -> ParsedFeed:
    """Parse a feed body. Never raises for bad input: `is_feed`/`error` say what it was.

    `url` is where the body came from (relative links are resolved against it); `headers`
    are the HTTP response headers (their charset is honoured, as browsers do for XML).
    """
    if not body[:1024].strip() and not body.strip():
        return ParsedFeed(is_feed=False, format="none", error="the body is empty")
    content_type = {k.lower(): v for k, v in (headers or {}).items()}.get("content-type")
    # Most feeds are UTF-8: hand the bytes to expat as they are (it checks them), and only
    # decode and re-encode when they say otherwise or turn out not to be.
    utf8 = _declared_utf8(body, content_type)
    encoding, problems = "utf-8", list[str]()
    if utf8 is None:
        text, encoding, problems = _decode(body, content_type)
        utf8 = _as_utf8_xml(text)

    if _HTMLISH_START.match(utf8[:4096]):
        return _not_a_feed(utf8, url, encoding, "this is an HTML page, not a feed")
    root: ET.Element | None
    try:
        root = ET.fromstring(utf8)
    except ET.ParseError as exc:
        xml_error = f"the XML is not well-formed ({exc})"
        text, encoding, problems = _decode(body, content_type)
        decoded = _as_utf8_xml(text)
        root = None
        if decoded != utf8:  # not UTF-8 after all: try again with what it really is
            utf8 = decoded
            try:
                root = ET.fromstring(utf8)
            except ET.ParseError as second:
                xml_error = f"the XML is not well-formed ({second})"
        if root is None:
            parsed = _parse_with_feedparser(utf8, url, encoding, [*problems, xml_error])
            if parsed is not None:
                return parsed
            return _not_a_feed(utf8, url, encoding, f"not a feed: {xml_error}")

    reader = _reader_for(root)
    if reader is not None:
        return reader(root, url, encoding, problems)
    if _local(root.tag) == "html":
        return _not_a_feed(utf8, url, encoding, "this is an HTML page, not a feed")
    parsed = _parse_with_feedparser(utf8, url, encoding, problems)
    if parsed is not None:
        return parsed
    return _not_a_feed(
        utf8, url, encoding, f"not a feed: unknown XML document <{_local(root.tag)}>"
    )


def choose_identity(entries: Sequence[_IdentitySource]) -> list[str]:
    """One stable sha256 hex per entry, chosen per feed as MonitoRSS does.

    The first of guid, link, title+date that every entry has and that is unique within the
    feed is used for all entries. arXiv guids (`oai:arXiv.org:IDvN`) count without their
    version, so a replacement announcement is the same entry. When no basis qualifies, each
    entry uses the best one it has, and an entry with none of them (valid RSS 2.0 needs only
    a description) is known by its title, text and date: nothing that moves when entries are
    added or dropped around it.
    """
    bases = _identity_bases(entries)
    return [hashlib.sha256(basis.encode("utf-8")).hexdigest() for basis in bases]


def parse_date(text: str | None) -> datetime | None:
    """An RFC 822 or ISO 8601 date (or anything feedparser understands) as aware UTC.

    None for what is not a date, and for dates outside [1990-01-01, now + 1 day]: a feed
    that says 31 Dec 9999 means nothing by it, and such a date must neither fail the feed
    (it overflows datetime once in UTC) nor keep its entry at the top of `/latest`.
    """
    if not text or not text.strip():
        return None
    try:
        return plausible_date(_parse_date_text(text.strip()))
    except (ValueError, OverflowError):
        return None


def plausible_date(value: datetime | None) -> datetime | None:
    """`value` when it is a date a feed entry can have (see `parse_date`), else None."""
    if value is None or not EARLIEST_DATE <= value <= datetime.now(UTC) + LATEST_DATE_AHEAD:
        return None
    return value


def _parse_date_text(text: str) -> datetime | None:
    value: datetime | None
    quick = _RFC822_DATE.match(text)
    if quick:
        day, month, year, hour, minute, second, zone = quick.groups()
        month_number = _MONTHS.get(month.lower())
        if month_number is not None:
            value = datetime(
                int(year), month_number, int(day), int(hour), int(minute), int(second or 0),
                tzinfo=UTC,
            )  # fmt: skip
            if zone[0] in "+-":
                offset = (int(zone[1:3]) * 60 + int(zone[3:5])) * (1 if zone[0] == "+" else -1)
                value -= timedelta(minutes=offset)
            return value
    try:
        value = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        value = None
    if value is None:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            parsed = feedparser_parse_date(text)
            if parsed is None:
                return None
            year_, month_, day_, hour_, minute_, second_ = parsed[:6]
            value = datetime(year_, month_, day_, hour_, minute_, second_, tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def normalize_guid(guid: str) -> str:
    """arXiv guids and abs URLs become `oai:arXiv.org:ID` without version; others unchanged."""
    if "arxiv" not in guid and "arXiv" not in guid:  # cheap test first: called per entry
        return guid
    match = _ARXIV_OAI_GUID.match(guid) or _ARXIV_ABS_URL.match(guid)
    if match:
        return f"oai:arXiv.org:{match.group(1)}"
    return guid


# --- decoding ---------------------------------------------------------------------------------


def _decode(body: bytes, content_type: str | None) -> tuple[str, str, list[str]]:
    """Bytes to text: BOM, then the HTTP charset, then the XML declaration, then UTF-8."""
    problems: list[str] = []
    candidates: list[str] = []
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if body.startswith(bom):
            candidates.append(name)
            break
    if content_type:
        match = _CHARSET_PARAM.search(content_type)
        if match:
            candidates.append(match.group(1))
    declared = _DECLARED_ENCODING.match(body[:1024])
    if declared:
        candidates.append(declared.group(1).decode("ascii"))
    candidates += ["utf-8", "windows-1252"]
    for name in candidates:
        try:
            codec_name = _document_charset(name)
        except LookupError as exc:
            problems.append(f"{exc}: {name!r}")
            continue
        try:
            text = body.decode(codec_name)
        except UnicodeError:
            problems.append(f"the body is not valid {name}")
            continue
        return text, codec_name, problems
    # windows-1252 leaves five bytes undefined; latin-1 decodes anything.
    problems.append("decoded as latin-1 as a last resort")
    return body.decode("latin-1"), "latin-1", problems


def _document_charset(label: str) -> str:
    """The Python codec for a charset label a document may carry.

    Raises LookupError for a label Python does not know, and for codecs that are no
    character set: binary transforms (`zlib`, `base64`, `rot13`: a feed may name any codec)
    and the text codecs in _NOT_DOCUMENT_CHARSETS.
    """
    try:
        info = codecs.lookup(_ENCODING_ALIASES.get(label.lower(), label))
    except LookupError:
        raise LookupError("unknown character encoding") from None
    # CodecInfo marks bytes-to-bytes and str-to-str codecs as not text encodings.
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_DOCUMENT_CHARSETS:
        raise LookupError("not a character encoding")
    return info.name


def _declared_utf8(body: bytes, content_type: str | None) -> bytes | None:
    """The body itself when nothing says it is anything but UTF-8 (BOM removed), else None."""
    if body.startswith(codecs.BOM_UTF8):
        body = body[3:]
    elif body[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return None
    if content_type:
        match = _CHARSET_PARAM.search(content_type)
        if match and match.group(1).lower() not in ("utf-8", "utf8"):
            return None
    declared = _DECLARED_ENCODING.match(body[:1024])
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        return None
    return body


def _as_utf8_xml(text: str) -> bytes:
    """UTF-8 bytes whose XML declaration (if any) says UTF-8, for expat and feedparser."""
    data = text.lstrip("\ufeff").encode("utf-8")
    declaration = _XML_DECLARATION.match(data)
    if declaration and b"encoding" in declaration.group(0):
        data = b'<?xml version="1.0" encoding="utf-8"?>' + data[declaration.end() :]
    return data


# --- helpers over ElementTree -----------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def _split_tag(tag: str) -> tuple[str, str]:
    """(namespace, local name), memoised: a big feed repeats the same few tags."""
    split = _SPLIT_TAGS.get(tag)
    if split is None:
        if tag.startswith("{"):
            namespace, _, name = tag[1:].partition("}")
            split = (namespace, name)
        else:
            split = ("", tag)
        if len(_SPLIT_TAGS) < 10_000:
            _SPLIT_TAGS[tag] = split
    return split


_SPLIT_TAGS: dict[str, tuple[str, str]] = {}


def _raw_text(element: ET.Element) -> str:
    """The element's text; markup nested without escaping (seen in the wild) is kept as markup."""
    if len(element) == 0:
        return element.text or ""
    return _inner_markup(element)


def _inner_markup(element: ET.Element) -> str:
    parts = [_escape_text(element.text or "")]
    for child in element:
        parts.append(_outer_markup(child))
        parts.append(_escape_text(child.tail or ""))
    return "".join(parts)


def _outer_markup(element: ET.Element) -> str:
    name = _local(element.tag)
    attributes = "".join(
        f' {_local(key)}="{_escape_text(value).replace(chr(34), "&quot;")}"'
        for key, value in element.attrib.items()
    )
    return f"<{name}{attributes}>{_inner_markup(element)}</{name}>"


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clean_title(text: str | None) -> str:
    return collapse_whitespace(text) if text else ""


def _absolute(link: str | None, base: str | None) -> str | None:
    if not link:
        return None
    link = link.strip()
    if not link:
        return None
    if base and not link.startswith(("http://", "https://")):
        return urljoin(base, link)
    return link


def _link_base(url: str | None, channel_link: str | None) -> str | None:
    """What relative item links are resolved against: the feed's own http(s) URL, else (for a
    file) the site the channel links to."""
    if url and url.startswith(("http://", "https://")):
        return url
    return channel_link or url


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def _votes(text: str | None) -> int | None:
    """A feed's vote count, within ±MAX_FEED_VOTES (a feed claiming 2**63 gets no further)."""
    votes = _int_or_none(text)
    if votes is None:
        return None
    return max(-MAX_FEED_VOTES, min(votes, MAX_FEED_VOTES))


def _rss_author(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    match = _RSS_AUTHOR_WITH_EMAIL.match(text)
    return match.group("name").strip() if match else collapse_whitespace(text)


def _atom_text(element: ET.Element | None) -> tuple[str, str | None]:
    """An Atom text construct as (plain text, original HTML or None)."""
    if element is None:
        return "", None
    kind = element.get("type", "text").lower()
    if kind == "xhtml":
        div = next(iter(element), None)
        markup = _inner_markup(div) if div is not None else _raw_text(element)
        return html_to_text(markup), markup
    if kind in ("html", "text/html"):
        markup = _raw_text(element)
        return html_to_text(markup), markup
    return _raw_text(element), None


def _paper_id(text: str | None) -> PaperId | None:
    if not text or not text.strip():
        return None
    parsed = parse_paper_id(text.strip())
    return parsed if isinstance(parsed, PaperId) else None


def _arxiv_parts(text: str | None) -> tuple[str | None, int | None]:
    """(id without version, version) from an arXiv id, oai guid or abs URL."""
    if not text:
        return None, None
    quick = _plain_new_style_arxiv_id(text)
    if quick is not None:
        return quick
    match = _ARXIV_OAI_GUID.match(text.strip()) or _ARXIV_ABS_URL.match(text.strip())
    candidate = match.group(1) if match else text.strip()
    version_text = match.group(2) if match else None
    paper = _paper_id(candidate + (f"v{version_text}" if version_text else ""))
    if paper is None or paper.kind != "arxiv":
        return None, None
    return paper.value, paper.version


def _plain_new_style_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """A bare new-style id (1502.03167, 2101.00001v2) checked here, without the general
    parser: a dump has one per item. Anything unusual returns None and goes to bot.papers."""
    match = _NEW_STYLE_ARXIV_ID.match(text)
    if match is None:
        return None
    year_month, sequence, version = match.groups()
    month = int(year_month[2:])
    if not 1 <= month <= 12 or int(year_month) < 704:
        return None
    if (int(year_month) < 1501) != (len(sequence) == 4):  # four digits until 2014, then five
        return None
    if int(sequence) == 0:  # numbering starts at 1
        return None
    return f"{year_month}.{sequence}", int(version) if version else None


def _bibtex_from_link(link: str | None) -> str | None:
    if not link or "bibtexKey=" not in link:
        return None
    values = parse_qs(urlsplit(link).query).get("bibtexKey")
    return values[0] if values else None


# --- entry drafts -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Draft:
    """An entry before its identity is known (identity depends on all entries of the feed)."""

    guid: str | None = None
    link: str | None = None
    title: str = ""
    author: str | None = None
    content: str = ""
    content_html: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    arxiv_id: str | None = None
    arxiv_version: int | None = None
    doi: str | None = None
    bibtex_key: str | None = None
    votes: int | None = None
    announce_type: str | None = None
    categories: list[str] = field(default_factory=list)
    paper_title: str | None = None
    paper_authors: str | None = None
    abstract: str | None = None
    pdf_url: str | None = None
    journal_ref: str | None = None
    arxiv_item: bool = False  # the entry announces an arXiv paper (its id is its identity)
    kind: EntryKind | None = None  # what the feed says the entry is (see FeedEntry.kind)

    @property
    def date(self) -> datetime | None:
        return self.updated or self.published


def _identity_bases(entries: Sequence[_IdentitySource]) -> list[str]:
    def by_guid(entry: _IdentitySource) -> str | None:
        return normalize_guid(entry.guid) if entry.guid else None

    def by_link(entry: _IdentitySource) -> str | None:
        return entry.link or None

    def by_title_and_date(entry: _IdentitySource) -> str | None:
        if not entry.title or entry.date is None:
            return None
        return f"{entry.title}\n{entry.date.isoformat()}"

    keys: list[Callable[[_IdentitySource], str | None]] = [by_guid, by_link, by_title_and_date]
    for key in keys:
        values = [key(entry) for entry in entries]
        complete = [value for value in values if value]
        if len(complete) == len(values) and len(set(complete)) == len(complete):
            return complete
    fallback = []
    for entry in entries:
        basis = next((value for key in keys if (value := key(entry))), None)
        fallback.append(basis or f"entry:{_text_basis(entry)}")
    return fallback


def _text_basis(entry: _IdentitySource) -> str:
    """What an entry without guid, link or dated title is known by: title, text and date."""
    basis = f"{entry.title}\n{entry.content}"
    if entry.date is not None:
        basis += f"\n{entry.date.isoformat()}"
    return basis


def _external_id(draft: _Draft, scope: str) -> str:
    """A database-wide id: arXiv items by paper id, absolute-URI guids and links as they are,
    anything else hashed together with the feed it came from (`scope`).

    It depends on the entry alone (not on the other entries, as `identity` does), so a feed
    read in parts gives the same ids as read whole.
    """
    if draft.arxiv_item and draft.arxiv_id:
        return f"oai:arXiv.org:{draft.arxiv_id}"
    if draft.guid:
        guid = normalize_guid(draft.guid)
        if _ABSOLUTE_URI.match(guid):
            return guid
        basis = f"guid:{guid}"
    elif draft.link and _ABSOLUTE_URI.match(draft.link):
        return draft.link
    elif draft.title and draft.date is not None:
        basis = f"title+date:{draft.title}\n{draft.date.isoformat()}"
    else:
        basis = f"entry:{_text_basis(draft)}"
    digest = hashlib.sha256(f"{scope}\n{basis}".encode()).hexdigest()
    return f"urn:sha256:{digest}"


def _finish(drafts: list[_Draft], scope: str) -> list[FeedEntry]:
    identities = choose_identity(drafts)
    entries = []
    for draft, identity in zip(drafts, identities, strict=True):
        entries.append(
            FeedEntry(
                identity=identity,
                external_id=_external_id(draft, scope),
                guid=draft.guid,
                link=draft.link,
                title=draft.title,
                author=draft.author,
                content=draft.content,
                content_html=draft.content_html,
                published=draft.published,
                updated=draft.updated,
                arxiv_id=draft.arxiv_id,
                arxiv_version=draft.arxiv_version,
                doi=draft.doi,
                bibtex_key=draft.bibtex_key,
                votes=draft.votes,
                announce_type=draft.announce_type,
                categories=tuple(draft.categories),
                paper_title=draft.paper_title,
                paper_authors=draft.paper_authors,
                abstract=draft.abstract,
                pdf_url=draft.pdf_url,
                journal_ref=draft.journal_ref,
                kind=draft.kind,
            )
        )
    return entries


def _set_content(draft: _Draft, raw: str, *, html_allowed: bool) -> None:
    """Plain text or Markdown stays as written; HTML becomes text, its original kept."""
    raw = raw.strip()
    if html_allowed and looks_like_html(raw):
        draft.content = html_to_text(raw)
        draft.content_html = raw
    else:
        draft.content = raw


def _apply_arxiv_rss(draft: _Draft) -> None:
    """rss.arxiv.org: id from the guid, announce type and abstract from the description."""
    arxiv_id, version = _arxiv_parts(draft.guid) if draft.guid else (None, None)
    match = _ARXIV_DESCRIPTION.match(draft.content)
    if match:
        if arxiv_id is None:
            arxiv_id, version = _arxiv_parts(match.group("id"))
        draft.announce_type = draft.announce_type or match.group("type")
        draft.abstract = match.group("abstract").strip()
        draft.content = draft.abstract
    if arxiv_id is None:
        arxiv_id, version = _arxiv_parts(draft.link)
    draft.arxiv_id, draft.arxiv_version = arxiv_id, version
    draft.arxiv_item = arxiv_id is not None
    # An arXiv announcement is the paper itself, its text the abstract.
    draft.kind = "abstract"
    draft.paper_title = draft.title
    draft.paper_authors = draft.author
    if arxiv_id:
        draft.pdf_url = draft.pdf_url or f"https://arxiv.org/pdf/{arxiv_id}"


def declared_doi(value: str | None) -> str | None:
    """The DOI an entry's metadata gives for itself (`prism:doi`, `dc:identifier`), or None
    when the value is not a DOI (a dc:identifier may be any URI or local id)."""
    paper = parse_paper_id(value.strip()) if value and value.strip() else None
    return paper.value if isinstance(paper, PaperId) and paper.kind == "doi" else None


def _apply_declared_doi(draft: _Draft, doi: str | None) -> None:
    """An entry naming its own DOI in PRISM or Dublin Core metadata is that article (a
    publisher's or preprint server's table of contents), not something written about it:
    it is the paper, titled and authored as the entry is."""
    if doi is None or draft.kind is not None:
        return
    draft.doi = doi
    draft.kind = "abstract"
    draft.paper_title = draft.title or None
    draft.paper_authors = draft.author


# --- RSS 0.9x / 2.0 ---------------------------------------------------------------------------


def _read_rss(root: ET.Element, url: str | None, encoding: str, problems: list[str]) -> ParsedFeed:
    channel = root.find("channel")
    if channel is None:
        return ParsedFeed(
            is_feed=False, format="none", error="not a feed: <rss> without <channel>",
            encoding=encoding,
        )  # fmt: skip
    version = root.get("version", "2.0").strip()
    fmt: FeedFormat = {"0.91": "rss091", "0.92": "rss092", "0.93": "rss092", "0.94": "rss092"}.get(
        version, "rss20"
    )  # type: ignore[assignment]
    title = _clean_title(channel.findtext("title"))
    link = _absolute(channel.findtext("link"), url)
    base = _link_base(url, link)
    ttl_text = channel.findtext("ttl")
    ttl = _int_or_none(ttl_text)
    if ttl_text is not None and ttl is None:
        problems.append(f"<ttl> is not a number: {ttl_text.strip()!r}")

    drafts: list[_Draft] = []
    kinds: set[str] = set()
    for item in channel.iter("item"):
        drafts.append(_rss_entry(item, base, kinds))
    if "shortscience" in kinds:
        fmt = "shortscience"
    elif "arxiv" in kinds:
        fmt = "arxiv-rss"
    return ParsedFeed(
        is_feed=True,
        format=fmt,
        title=title,
        link=link,
        description=channel.findtext("description"),
        ttl=ttl,
        entries=_finish(drafts, link or title or url or ""),
        bozo=problems,
        encoding=encoding,
    )


def _rss_entry(item: ET.Element, base: str | None, kinds: set[str]) -> _Draft:
    """One <item> read and finished according to its kind (recorded in `kinds`)."""
    draft, kind = _rss_item(item, base)
    kinds.add(kind)
    if kind == "arxiv":
        _apply_arxiv_rss(draft)
    elif kind == "generic":
        _set_content(draft, draft.content, html_allowed=True)
        _apply_declared_doi(draft, draft.doi)
    return draft


def _rss_item(item: ET.Element, base: str | None) -> tuple[_Draft, str]:
    """One <item>; content is left raw (ShortScience Markdown must not be touched)."""
    draft = _Draft()
    kind = "generic"
    description = encoded = pub_date = dc_date = creator = author = None
    for child in item:
        tag = child.tag
        if tag == "title":
            draft.title = _clean_title(child.text)
        elif tag == "link":
            draft.link = _absolute(child.text, base)
        elif tag == "guid":
            draft.guid = (child.text or "").strip() or None
        elif tag == "description":
            description = _raw_text(child)
        elif tag == "author":
            author = child.text
        elif tag == "pubDate":
            pub_date = child.text
        elif tag == "category":
            if child.text and child.text.strip():
                draft.categories.append(child.text.strip())
        elif tag.startswith("{"):
            namespace, name = _split_tag(tag)
            if namespace == NS_CONTENT and name == "encoded":
                encoded = _raw_text(child)
            elif namespace == NS_DC:
                if name == "creator":
                    creator = child.text
                elif name == "date":
                    dc_date = child.text
                elif name == "identifier":
                    draft.doi = draft.doi or declared_doi(child.text)
            elif PRISM_HOST in namespace and name == "doi":
                draft.doi = declared_doi(child.text) or draft.doi
            elif "shortscience" in namespace:
                kind = "shortscience"
                value = (child.text or "").strip()
                if name == "arxivid":
                    draft.arxiv_id, draft.arxiv_version = _arxiv_parts(value)
                elif name == "bibtexkey":
                    draft.bibtex_key = value or None
                elif name == "votes":
                    draft.votes = _votes(value)
            elif namespace == NS_ARXIV:
                kind = "arxiv"
                value = (child.text or "").strip()
                if name == "announce_type":
                    draft.announce_type = value or None
                elif name.lower() == "doi":
                    draft.doi = value.lower() or None
                elif name == "journal_reference":
                    draft.journal_ref = value or None
            elif name == "link" and namespace == NS_ATOM and draft.link is None:
                draft.link = _absolute(child.get("href"), base)
    if kind == "generic" and draft.guid and draft.guid.lower().startswith("oai:arxiv.org:"):
        kind = "arxiv"
    draft.author = _rss_author(author) or _rss_author(creator)
    date = parse_date(pub_date) or parse_date(dc_date)
    if kind == "shortscience":
        draft.kind = "summary"
        # ShortScience's pubDate is the summary's last edit.
        draft.published = draft.updated = date
        draft.content = (description or "").strip()
        draft.paper_title = draft.title or None
        draft.bibtex_key = draft.bibtex_key or _bibtex_from_link(draft.link or draft.guid)
        if draft.author is None:
            draft.author = "Anonymous"
    else:
        draft.published = date
        draft.content = encoded if encoded and encoded.strip() else (description or "")
    if draft.link is None and draft.guid and draft.guid.startswith(("http://", "https://")):
        is_permalink = item.find("guid")
        if is_permalink is not None and is_permalink.get("isPermaLink", "true") != "false":
            draft.link = draft.guid
    return draft, kind


# --- RSS 0.90 / 1.0 (RDF) ---------------------------------------------------------------------


def _read_rdf(root: ET.Element, url: str | None, encoding: str, problems: list[str]) -> ParsedFeed:
    namespace = NS_RSS10 if root.find(f"{{{NS_RSS10}}}channel") is not None else NS_RSS090
    fmt: FeedFormat = "rss10" if namespace == NS_RSS10 else "rss090"
    channel = root.find(f"{{{namespace}}}channel")
    title = _clean_title(channel.findtext(f"{{{namespace}}}title")) if channel is not None else ""
    link = _absolute(channel.findtext(f"{{{namespace}}}link"), url) if channel is not None else None
    base = _link_base(url, link)
    drafts = []
    for item in root.iter(f"{{{namespace}}}item"):
        draft = _Draft()
        description = encoded = None
        for child in item:
            tag = child.tag
            if tag == f"{{{namespace}}}title":
                draft.title = _clean_title(child.text)
            elif tag == f"{{{namespace}}}link":
                draft.link = _absolute(child.text, base)
            elif tag == f"{{{namespace}}}description":
                description = _raw_text(child)
            elif tag == f"{{{NS_CONTENT}}}encoded":
                encoded = _raw_text(child)
            elif tag == f"{{{NS_DC}}}creator":
                draft.author = _rss_author(child.text)
            elif tag == f"{{{NS_DC}}}date":
                draft.published = parse_date(child.text)
            elif tag == f"{{{NS_DC}}}subject" and child.text and child.text.strip():
                draft.categories.append(child.text.strip())
            elif tag == f"{{{NS_DC}}}identifier":
                draft.doi = draft.doi or declared_doi(child.text)
            elif tag.startswith("{") and PRISM_HOST in tag and tag.endswith("}doi"):
                draft.doi = declared_doi(child.text) or draft.doi
        draft.guid = item.get(f"{{{NS_RDF}}}about") or None
        _set_content(draft, encoded or description or "", html_allowed=True)
        _apply_declared_doi(draft, draft.doi)
        drafts.append(draft)
    return ParsedFeed(
        is_feed=True,
        format=fmt,
        title=title,
        link=link,
        description=None if channel is None else channel.findtext(f"{{{namespace}}}description"),
        entries=_finish(drafts, link or title or url or ""),
        bozo=problems,
        encoding=encoding,
    )


# --- Atom 1.0 (and the arXiv API) -------------------------------------------------------------


def _atom_base(element: ET.Element, base: str | None) -> str | None:
    declared = element.get(f"{{{NS_XML}}}base")
    return urljoin(base or "", declared) if declared else base


def _atom_link(element: ET.Element, base: str | None, rel: str = "alternate") -> str | None:
    for link in element.findall(f"{{{NS_ATOM}}}link"):
        if link.get("rel", "alternate") == rel and link.get("href"):
            return _absolute(link.get("href"), base)
    return None


def _read_atom(root: ET.Element, url: str | None, encoding: str, problems: list[str]) -> ParsedFeed:
    base = _atom_base(root, url)
    title, _ = _atom_text(root.find(f"{{{NS_ATOM}}}title"))
    title = _clean_title(title)
    link = _atom_link(root, base)
    feed_authors = [
        collapse_whitespace(name.text)
        for name in root.findall(f"{{{NS_ATOM}}}author/{{{NS_ATOM}}}name")
        if name.text
    ]
    feed_id = root.findtext(f"{{{NS_ATOM}}}id") or ""
    is_arxiv_api = "arxiv.org/api" in feed_id or "arxiv.org/api" in (
        _atom_link(root, base, "self") or ""
    )
    drafts: list[_Draft] = []
    errors: list[str] = []
    for entry in root.iter(f"{{{NS_ATOM}}}entry"):
        draft = _atom_entry(entry, base, feed_authors)
        if draft.guid and "arxiv.org/api/errors" in draft.guid and draft.title == "Error":
            errors.append(draft.content or "unknown error")
            continue
        if draft.arxiv_item:
            is_arxiv_api = True
        drafts.append(draft)
    error = f"the arXiv API reported an error: {'; '.join(errors)}" if errors else None
    return ParsedFeed(
        is_feed=True,
        format="arxiv-api" if is_arxiv_api else "atom10",
        title=title,
        link=link,
        description=_atom_text(root.find(f"{{{NS_ATOM}}}subtitle"))[0] or None,
        entries=_finish(drafts, link or feed_id or title or url or ""),
        bozo=problems,
        error=error,
        encoding=encoding,
    )


def _atom_entry(entry: ET.Element, feed_base: str | None, feed_authors: list[str]) -> _Draft:
    base = _atom_base(entry, feed_base)
    draft = _Draft()
    draft.guid = (entry.findtext(f"{{{NS_ATOM}}}id") or "").strip() or None
    title, _ = _atom_text(entry.find(f"{{{NS_ATOM}}}title"))
    draft.title = _clean_title(title)
    draft.link = _atom_link(entry, base)
    authors = [
        collapse_whitespace(name.text)
        for name in entry.findall(f"{{{NS_ATOM}}}author/{{{NS_ATOM}}}name")
        if name.text
    ] or feed_authors
    draft.author = ", ".join(authors) or None
    content_element = entry.find(f"{{{NS_ATOM}}}content")
    summary_element = entry.find(f"{{{NS_ATOM}}}summary")
    text, markup = _atom_text(content_element if content_element is not None else summary_element)
    draft.content, draft.content_html = text.strip(), markup
    draft.published = parse_date(entry.findtext(f"{{{NS_ATOM}}}published"))
    draft.updated = parse_date(entry.findtext(f"{{{NS_ATOM}}}updated"))
    draft.categories = [
        category.get("term", "").strip()
        for category in entry.findall(f"{{{NS_ATOM}}}category")
        if category.get("term", "").strip()
    ]

    # arXiv API extensions.
    arxiv_id, version = _arxiv_parts(draft.guid) if draft.guid else (None, None)
    if arxiv_id and draft.guid and "arxiv.org/abs/" in draft.guid:
        draft.arxiv_id, draft.arxiv_version = arxiv_id, version
        draft.arxiv_item = True
        draft.kind = "abstract"
        draft.abstract = draft.content
        draft.paper_title = draft.title
        draft.paper_authors = draft.author
        draft.pdf_url = _atom_link(entry, base, "related") or f"https://arxiv.org/pdf/{arxiv_id}"
        for link in entry.findall(f"{{{NS_ATOM}}}link"):
            if link.get("title") == "pdf" and link.get("href"):
                draft.pdf_url = link.get("href")
        draft.doi = (entry.findtext(f"{{{NS_ARXIV}}}doi") or "").strip().lower() or None
        draft.journal_ref = (entry.findtext(f"{{{NS_ARXIV}}}journal_ref") or "").strip() or None
        primary = entry.find(f"{{{NS_ARXIV}}}primary_category")
        if primary is not None and primary.get("term"):
            term = primary.get("term", "")
            draft.categories = [term, *(c for c in draft.categories if c != term)]
        return draft
    for child in entry:
        if child.tag == f"{{{NS_DC}}}identifier" or (
            PRISM_HOST in child.tag and child.tag.endswith("}doi")
        ):
            _apply_declared_doi(draft, declared_doi(child.text))
    return draft


def _reader_for(
    root: ET.Element,
) -> Callable[[ET.Element, str | None, str, list[str]], ParsedFeed] | None:
    if root.tag == "rss":
        return _read_rss
    if root.tag == f"{{{NS_RDF}}}RDF":
        return _read_rdf
    if root.tag == f"{{{NS_ATOM}}}feed":
        return _read_atom
    return None


# --- feedparser (broken or unusual feeds) -----------------------------------------------------


def _parse_with_feedparser(
    utf8: bytes, url: str | None, encoding: str, problems: list[str]
) -> ParsedFeed | None:
    """feedparser's lenient parse, mapped like the fast readers; None when it finds no feed."""
    headers = {"content-type": "application/xml; charset=utf-8"}
    if url:
        headers["content-location"] = url
    result = feedparser.parse(
        utf8, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    if not result.get("version") and not result.entries:
        return None
    problems = list(problems)
    exception = result.get("bozo_exception")
    if exception is not None and not isinstance(
        exception, feedparser.CharacterEncodingOverride | feedparser.NonXMLContentType
    ):
        problems.append(f"feedparser recovered from: {exception}")
    feed = result.feed
    version = str(result.get("version") or "")
    fields = _FeedparserFields(
        is_atom=version.startswith("atom"),
        # The strict parser (expat) failed and the lenient one read the body instead.
        lenient=isinstance(exception, xml.sax.SAXException),
    )
    title = _clean_title(fields.typed(feed, "title"))
    link = fields.untyped(feed.get("link")) if not fields.is_atom else feed.get("link")
    base = _link_base(url, link)
    feed_author = fields.untyped(feed.get("author")) if fields.is_atom else None
    drafts: list[_Draft] = []
    errors: list[str] = []
    for entry in result.entries:
        draft = _feedparser_entry(
            entry, base, feed_author, fields, is_rss=version.startswith("rss")
        )
        if draft.guid and "arxiv.org/api/errors" in draft.guid and draft.title == "Error":
            errors.append(draft.content or "unknown error")
            continue
        drafts.append(draft)
    fmt: FeedFormat
    if any(draft.bibtex_key or draft.votes is not None for draft in drafts):
        fmt = "shortscience"
    elif errors or any(draft.arxiv_item for draft in drafts):
        fmt = "arxiv-rss" if version.startswith("rss") else "arxiv-api"
    else:
        fmt = _FEEDPARSER_VERSIONS.get(version, "other")
    if fmt == "arxiv-rss":
        for draft in drafts:
            _apply_arxiv_rss(draft)
    return ParsedFeed(
        is_feed=True,
        format=fmt,
        title=title,
        link=link,
        description=feed.get("subtitle"),
        ttl=_int_or_none(feed.get("ttl")),
        entries=_finish(drafts, link or title or url or ""),
        bozo=problems,
        error=f"the arXiv API reported an error: {'; '.join(errors)}" if errors else None,
        encoding=encoding,
    )


_FEEDPARSER_VERSIONS: dict[str, FeedFormat] = {
    "rss090": "rss090",
    "rss091n": "rss091",
    "rss091u": "rss091",
    "rss092": "rss092",
    "rss093": "rss092",
    "rss094": "rss092",
    "rss10": "rss10",
    "rss20": "rss20",
    "rss": "rss20",
    "atom10": "atom10",
}


def _plain(text: str) -> str:
    return html_to_text(text) if looks_like_html(text) else text


# What feedparser's lenient parser leaves escaped in elements that have no content type
# (author names, ids, RSS links, extension elements): the XML entities, named or numbered.
_LENIENT_ESCAPES = re.compile(
    r"&(lt|gt|amp|quot|apos|#(?:34|38|39|60|62)|#[xX](?:22|26|27|3[cCeE]));"
)
_LENIENT_CHARACTERS = {
    "lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'",
    "#34": '"', "#38": "&", "#39": "'", "#60": "<", "#62": ">",
    "#x22": '"', "#x26": "&", "#x27": "'", "#x3c": "<", "#x3e": ">",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _FeedparserFields:
    """Reads feedparser's values as the XML text the fast readers see, decoded once.

    Typed values (titles, summaries, content) come decoded by both of feedparser's parsers,
    as text or as HTML according to their type. Untyped ones (author names, ids, links,
    extension elements) come decoded from the strict parser but still escaped from the
    lenient one (`R&amp;D Team`): they are unescaped here, in one pass, so that text that
    really reads `&amp;` keeps it.
    """

    is_atom: bool
    lenient: bool

    def untyped(self, value: Any) -> Any:
        if self.lenient and isinstance(value, str) and "&" in value:
            return _LENIENT_ESCAPES.sub(lambda m: _LENIENT_CHARACTERS[m.group(1).lower()], value)
        return value

    def typed(self, item: Mapping[str, Any], key: str) -> str:
        """A text construct: Atom's declared HTML becomes text (as the fast reader does);
        RSS says nothing, so markup is recognised by its tags."""
        value = item.get(key) or ""
        kind = (item.get(f"{key}_detail") or {}).get("type", "")
        if self.is_atom and "html" in kind:
            return html_to_text(value)
        return _plain(value)

    def extension(self, entry: Mapping[str, Any], name: str) -> Any:
        """An extension element whatever prefix the feed declared (`shortscience_votes`)."""
        for key, value in entry.items():
            if key.endswith(f"_{name}") and not key.endswith("_detail"):
                return self.untyped(value)
        return None


def _feedparser_date(entry: Mapping[str, Any], key: str) -> datetime | None:
    # dict.get, not entry.get: FeedParserDict answers "updated" with the published date.
    parsed = dict.get(entry, f"{key}_parsed")  # type: ignore[call-overload]
    if not parsed:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    try:
        return plausible_date(datetime(year, month, day, hour, minute, second, tzinfo=UTC))
    except (ValueError, OverflowError):
        return None


def _feedparser_entry(
    entry: Mapping[str, Any],
    base: str | None,
    feed_author: str | None,
    fields: _FeedparserFields,
    *,
    is_rss: bool,
) -> _Draft:
    draft = _Draft()
    draft.guid = fields.untyped(entry.get("id")) or None
    if fields.is_atom:
        # An attribute, which feedparser decodes itself; without one feedparser offers the
        # id as the link, which Atom never means (the fast reader leaves it out too).
        link = entry.get("link") if entry.get("links") else None
    else:
        link = fields.untyped(entry.get("link"))
    draft.link = _absolute(link, base)
    draft.title = _clean_title(fields.typed(entry, "title"))
    names = [fields.untyped(a["name"]) for a in entry.get("authors", []) if a.get("name")]
    draft.author = (
        ", ".join(names) or _rss_author(fields.untyped(entry.get("author"))) or feed_author
    )
    contents = entry.get("content") or []
    if contents:
        draft.content, kind = contents[0].get("value", ""), contents[0].get("type", "")
    else:
        draft.content = entry.get("summary", "")
        kind = (entry.get("summary_detail") or {}).get("type", "")
    draft.content = draft.content.strip()
    draft.published = _feedparser_date(entry, "published")
    draft.updated = _feedparser_date(entry, "updated")
    if is_rss and draft.published is None:
        # feedparser files RSS's dc:date under "updated"; the fast reader calls it published.
        draft.published, draft.updated = draft.updated, None
    terms = [tag["term"] for tag in entry.get("tags", []) if tag.get("term")]
    # Atom categories are attributes, which feedparser decodes itself.
    draft.categories = terms if fields.is_atom else [fields.untyped(term) for term in terms]

    votes, bibtex_key = fields.extension(entry, "votes"), fields.extension(entry, "bibtexkey")
    arxiv_text = fields.extension(entry, "arxivid")
    if votes is not None or bibtex_key is not None or arxiv_text is not None:
        # ShortScience: the description is Markdown whatever feedparser guessed its type was.
        draft.votes = _votes(votes)
        draft.bibtex_key = (bibtex_key or "").strip() or _bibtex_from_link(draft.link)
        draft.arxiv_id, draft.arxiv_version = _arxiv_parts(arxiv_text)
        draft.paper_title = draft.title or None
        draft.updated = draft.published
        draft.author = draft.author or "Anonymous"
        draft.kind = "summary"
        return draft
    announce = fields.extension(entry, "announce_type")
    if announce or (draft.guid or "").lower().startswith("oai:arxiv.org:"):
        draft.announce_type = announce or None
        draft.doi = (fields.extension(entry, "doi") or "").strip().lower() or None
        draft.journal_ref = (fields.extension(entry, "journal_reference") or "").strip() or None
        draft.arxiv_item = True
        draft.kind = "abstract"
        return draft
    if draft.guid and "arxiv.org/abs/" in draft.guid:
        draft.arxiv_id, draft.arxiv_version = _arxiv_parts(draft.guid)
        if draft.arxiv_id:
            draft.arxiv_item = True
            draft.kind = "abstract"
            draft.abstract = draft.content
            draft.paper_title = draft.title
            draft.paper_authors = draft.author
            draft.doi = (fields.untyped(entry.get("arxiv_doi")) or "").strip().lower() or None
            draft.journal_ref = fields.untyped(entry.get("arxiv_journal_ref")) or None
            draft.pdf_url = next(
                (x.get("href") for x in entry.get("links", []) if x.get("title") == "pdf"),
                f"https://arxiv.org/pdf/{draft.arxiv_id}",
            )
            primary = (entry.get("arxiv_primary_category") or {}).get("term")
            if primary:
                draft.categories = [primary, *(c for c in draft.categories if c != primary)]
            return draft
    if "html" in kind and fields.is_atom:
        # Declared HTML: text whether or not it has tags, as the fast reader makes it.
        draft.content, draft.content_html = html_to_text(draft.content).strip(), draft.content
    elif "html" in kind:
        _set_content(draft, draft.content, html_allowed=True)
    # prism:doi and dc:identifier (feedparser files them as `prism_doi`, `dc_identifier`).
    _apply_declared_doi(
        draft,
        declared_doi(fields.extension(entry, "doi"))
        or declared_doi(fields.extension(entry, "identifier")),
    )
    return draft


# --- HTML pages -------------------------------------------------------------------------------


class _FeedLinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.links: list[tuple[str, str | None, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "base" and values.get("href") and self.base is None:
            self.base = values["href"]
        if tag != "link":
            return
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_LINK_TYPES and values.get("href"):
            self.links.append((values["href"].strip(), values.get("title") or None, kind))


def discover_feeds(page: str, url: str | None) -> list[DiscoveredFeed]:
    """Feeds an HTML page advertises, with absolute URLs, in page order, without repeats."""
    finder = _FeedLinkFinder()
    finder.feed(page)
    finder.close()
    base = urljoin(url or "", finder.base) if finder.base else url
    found: list[DiscoveredFeed] = []
    seen: set[str] = set()
    for href, title, kind in finder.links:
        absolute = urljoin(base or "", href)
        if absolute not in seen:
            seen.add(absolute)
            found.append(DiscoveredFeed(url=absolute, title=title, type=kind))
    return found


def _not_a_feed(utf8: bytes, url: str | None, encoding: str, reason: str) -> ParsedFeed:
    text = utf8.decode("utf-8", errors="replace")
    discovered = discover_feeds(text, url) if "<link" in text.lower() else []
    if discovered:
        reason = f"{reason}; the page links to {plural(len(discovered), 'feed')}"
    return ParsedFeed(
        is_feed=False,
        format="none",
        discovered_feeds=discovered,
        error=reason,
        encoding=encoding,
    )
