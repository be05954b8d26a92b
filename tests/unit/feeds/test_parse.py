"""Parsing feeds: ShortScience, arXiv RSS and API, generic RSS/Atom, encodings, broken input."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds import FeedEntry, choose_identity, discover_feeds, parse_feed
from bot.feeds.parse import (
    EARLIEST_DATE,
    LATEST_DATE_AHEAD,
    _as_utf8_xml,
    _decode,
    _parse_with_feedparser,
    _plain_new_style_arxiv_id,
    parse_date,
)
from bot.feeds.stream import FeedStream
from bot.feeds.text import html_to_text
from bot.papers import PaperId, parse_paper_id

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "feeds"


def load(name: str, url: str | None = None):
    return parse_feed((FIXTURES / name).read_bytes(), url=url)


# --- ShortScience -------------------------------------------------------------------------------


def test_shortscience_feed_metadata() -> None:
    feed = load("shortscience.xml")
    assert feed.is_feed
    assert feed.format == "shortscience"
    assert feed.title == "ShortScience.org"
    assert feed.link == "https://www.shortscience.org"
    assert feed.ttl == 60
    assert feed.bozo == []
    assert len(feed.entries) == 5


def test_shortscience_entry_fields() -> None:
    entry = load("shortscience.xml").entries[0]
    key = "journals/corr/IoffeS15"
    assert entry.guid == f"https://www.shortscience.org/paper?bibtexKey={key}#udibr"
    assert entry.link == entry.guid
    assert entry.external_id == entry.guid
    assert entry.title.startswith("Batch Normalization: Accelerating")
    assert entry.paper_title == entry.title
    assert entry.author == "udibr"
    assert entry.arxiv_id == "1502.03167"
    assert entry.arxiv_version is None
    assert entry.bibtex_key == key
    assert entry.votes == 12
    # pubDate is the last edit.
    assert entry.updated == datetime(2017, 3, 14, 9, 21, 7, tzinfo=UTC)
    assert entry.date == entry.updated
    assert entry.content_html is None


def test_shortscience_markdown_survives_exactly() -> None:
    entries = load("shortscience.xml").entries
    first = entries[0].content
    assert "$x^*$" in first
    assert (
        r"$$\hat{x}_i = \frac{x_i - \mu_\mathcal{B}}{\sqrt{\sigma_\mathcal{B}^2 + \epsilon}}$$"
        in first
    )
    assert r"$\text{batch size} < 32$ & with dropout" in first
    assert "`running_mean`" in first and "snake_case_names and __dunder__" in first
    assert first.startswith("**Batch norm** normalises")
    assert "mini-batch:\n\n$$" in first  # blank lines kept
    cdata = entries[1].content
    assert "A literal <b>tag</b> & an ampersand stay Markdown, not HTML." in cdata
    assert "\n    indented line kept" in cdata


def test_shortscience_anonymous_and_missing_arxiv_id() -> None:
    entries = load("shortscience.xml").entries
    assert entries[1].author == "Anonymous"
    resnet = entries[3]
    assert resnet.arxiv_id is None  # empty <shortscience:arxivid/>
    assert resnet.bibtex_key == "conf/cvpr/HeZRS16"
    assert resnet.votes == 0
    nature = entries[4]
    assert nature.bibtex_key == "10.1038/nature14539"


def test_shortscience_edit_keeps_identity_and_changes_text() -> None:
    before = {entry.external_id: entry for entry in load("shortscience.xml").entries}
    after = {entry.external_id: entry for entry in load("shortscience_v2.xml").entries}
    assert set(before) < set(after)
    edited = (
        "https://www.shortscience.org/paper?bibtexKey=journals/corr/VaswaniSPUJGKP17#hlarochelle"
    )
    assert before[edited].identity == after[edited].identity
    assert after[edited].updated > before[edited].updated
    assert "Edit: the heads are concatenated" in after[edited].content
    assert after[edited].votes == 9


def test_shortscience_missing_author_is_anonymous() -> None:
    body = (FIXTURES / "shortscience.xml").read_bytes().replace(b"<author>udibr</author>", b"")
    assert parse_feed(body).entries[0].author == "Anonymous"


def test_broken_shortscience_feed_is_recovered_with_its_markdown() -> None:
    feed = load("shortscience_broken.xml")
    assert feed.is_feed and feed.format == "shortscience"
    assert any("not well-formed" in problem for problem in feed.bozo)
    (entry,) = feed.entries
    assert entry.content == "Keep $x^*$ and $a_i < b_i$ & __init__ as written.\n\nSecond line."
    assert (entry.arxiv_id, entry.bibtex_key, entry.votes) == (
        "1502.03167",
        "journals/corr/IoffeS15",
        12,
    )


# --- arXiv --------------------------------------------------------------------------------------


def test_arxiv_rss_entries() -> None:
    feed = load("arxiv_rss.xml")
    assert feed.format == "arxiv-rss"
    assert [e.announce_type for e in feed.entries] == ["new", "cross", "replace", "replace-cross"]
    first = feed.entries[0]
    assert first.arxiv_id == "2401.10241" and first.arxiv_version == 1
    assert first.guid == "oai:arXiv.org:2401.10241v1"
    assert first.external_id == "oai:arXiv.org:2401.10241"
    assert first.paper_authors == "Alice Smith, Bob Jones"
    assert first.categories == ("cs.LG", "cs.AI")
    assert first.abstract == first.content
    assert first.content.startswith("We study sparse mixtures")
    assert "$k < n$ experts are active & show that routing_loss" in first.content
    assert first.published == datetime(2024, 1, 22, 5, 0, tzinfo=UTC)
    replaced = feed.entries[2]
    assert (replaced.arxiv_id, replaced.arxiv_version) == ("2301.01234", 3)
    assert replaced.doi == "10.1000/journal.2023.42"
    assert replaced.journal_ref == "Journal of Tests 42 (2023) 1-10"
    old_style = feed.entries[3]
    assert (old_style.arxiv_id, old_style.arxiv_version) == ("hep-th/9901001", 2)


def test_arxiv_rss_new_version_is_the_same_entry() -> None:
    body = (FIXTURES / "arxiv_rss.xml").read_bytes()
    v1 = parse_feed(body).entries[0]
    v2 = parse_feed(
        body.replace(b"oai:arXiv.org:2401.10241v1", b"oai:arXiv.org:2401.10241v2")
    ).entries[0]
    assert v2.arxiv_version == 2
    assert v1.identity == v2.identity
    assert v1.external_id == v2.external_id


def test_arxiv_api_entries() -> None:
    feed = load("arxiv_api.xml")
    assert feed.format == "arxiv-api"
    assert feed.error is None
    batchnorm, hera = feed.entries
    assert (batchnorm.arxiv_id, batchnorm.arxiv_version) == ("1502.03167", 3)
    assert batchnorm.title == (
        "Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
        "Covariate Shift"
    )
    assert batchnorm.paper_authors == "Sergey Ioffe, Christian Szegedy"
    assert batchnorm.doi == "10.5555/3045118.3045167"
    assert batchnorm.categories[0] == "cs.LG"  # primary category first
    assert batchnorm.journal_ref == "ICML 2015"
    assert batchnorm.pdf_url == "http://arxiv.org/pdf/1502.03167v3"
    assert batchnorm.abstract is not None and batchnorm.abstract.startswith("Training Deep")
    assert batchnorm.published == datetime(2015, 2, 11, 1, 44, 18, tzinfo=UTC)
    assert batchnorm.updated == datetime(2015, 3, 2, 20, 44, 12, tzinfo=UTC)
    # The same paper from the RSS feed and the API dedupes to one external id.
    assert batchnorm.external_id == "oai:arXiv.org:1502.03167"
    assert hera.arxiv_id == "hep-ex/0307015"
    assert hera.published == datetime(2003, 7, 7, 17, 46, 39, tzinfo=UTC)


def test_arxiv_api_error_entry_becomes_an_error() -> None:
    feed = load("arxiv_api_error.xml")
    assert feed.is_feed
    assert feed.entries == []
    assert feed.error is not None and "incorrect id format for 1234.12345" in feed.error


# --- generic formats ----------------------------------------------------------------------------


# --- what an entry is: a summary, or the paper itself (its abstract) ---------------------------


def test_arxiv_entries_are_papers_and_shortscience_entries_summaries() -> None:
    """An arXiv announcement (RSS or API) is the paper, its text the abstract; ShortScience's
    entries are summaries; any other feed's entries are not decided by the parser."""
    assert {e.kind for e in load("arxiv_rss.xml").entries} == {"abstract"}
    assert {e.kind for e in load("arxiv_api.xml").entries} == {"abstract"}
    assert {e.kind for e in load("shortscience.xml").entries} == {"summary"}
    for name in ("rss10.xml", "rss20.xml", "atom10.xml"):
        assert {e.kind for e in load(name).entries} == {None}, name


def test_entries_naming_their_own_doi_are_the_papers_of_a_table_of_contents() -> None:
    """Publishers and preprint servers name each article's DOI in PRISM or Dublin Core
    metadata: such an entry is that article (its DOI, title and authors are the paper's)."""
    grid, place, news = load("toc_rss10.xml").entries
    assert (grid.kind, grid.doi) == ("abstract", "10.1101/2024.01.20.576400")
    assert (grid.paper_title, grid.paper_authors) == (grid.title, "Doe, J., Roe, R.")
    # prism:doi wins over a dc:identifier that is no DOI.
    assert (place.kind, place.doi) == ("abstract", "10.1101/2024.01.21.576500")
    # An identifier that is no DOI says nothing.
    assert (news.kind, news.doi) == (None, None)
    article, editorial = load("toc_rss20.xml").entries
    assert (article.kind, article.doi) == ("abstract", "10.1038/s41586-024-00001-1")
    assert (editorial.kind, editorial.doi) == (None, None)


def test_an_atom_entry_naming_its_doi_is_the_paper() -> None:
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
        b'xmlns:prism="http://prismstandard.org/namespaces/basic/3.0/">'
        b"<title>J</title><id>urn:j</id><entry><id>urn:a</id><title>A Result</title>"
        b"<author><name>Ada</name></author><summary>We find it.</summary>"
        b"<prism:doi>https://doi.org/10.5555/A.1</prism:doi></entry></feed>"
    )
    [entry] = parse_feed(body).entries
    assert (entry.kind, entry.doi, entry.paper_title) == ("abstract", "10.5555/a.1", "A Result")


@pytest.mark.parametrize(
    ("name", "fmt", "count"),
    [
        ("rss090.xml", "rss090", 2),
        ("rss091.xml", "rss091", 2),
        ("rss10.xml", "rss10", 2),
        ("rss20.xml", "rss20", 4),
        ("atom10.xml", "atom10", 2),
    ],
)
def test_generic_formats(name: str, fmt: str, count: int) -> None:
    feed = load(name)
    assert feed.is_feed and feed.format == fmt and len(feed.entries) == count
    assert all(entry.title for entry in feed.entries)
    assert len({entry.identity for entry in feed.entries}) == count


def test_rss20_html_content_becomes_text() -> None:
    entry = load("rss20.xml").entries[0]
    assert entry.content == (
        "A [classic paper](https://arxiv.org/abs/1706.03762) & its ideas.\n\nSecond paragraph."
    )
    assert entry.content_html is not None and entry.content_html.startswith("<p>A <a href=")
    assert entry.author == "Jo Writer"
    assert entry.categories == ("transformers",)


def test_rss20_author_email_relative_links_and_non_uri_guids() -> None:
    feed = load("rss20.xml", url="https://blog.example.com/feed.xml")
    doi_post = feed.entries[1]
    assert doi_post.author == "Sam Editor"
    assert doi_post.link == "https://blog.example.com/posts/doi-post"
    # "post-102" means nothing outside this feed: the external id is scoped by a hash.
    assert doi_post.guid == "post-102"
    assert doi_post.external_id.startswith("urn:sha256:")
    assert feed.ttl == 30


def test_relative_links_in_a_file_resolve_against_the_channel_link() -> None:
    feed = parse_feed((FIXTURES / "rss20.xml").read_bytes(), url="file:///tmp/rss20.xml")
    assert feed.entries[1].link == "https://blog.example.com/posts/doi-post"


def test_atom_xhtml_html_xml_base_and_inherited_author() -> None:
    feed = load("atom10.xml")
    assert feed.link == "https://atom.example.net/"
    resnet, plain = feed.entries
    assert resnet.title == "Residual networks"
    assert resnet.link == "https://atom.example.net/posts/resnet"
    assert resnet.author == "Feed Author"
    assert (
        resnet.content == "About [ResNet](https://arxiv.org/abs/1512.03385).\n\nSkip connections."
    )
    assert resnet.updated == datetime(2024, 2, 1, 8, 0, tzinfo=UTC)
    assert resnet.published == datetime(2024, 1, 30, 10, 0, tzinfo=UTC)
    assert resnet.external_id == "tag:atom.example.net,2024:1"
    assert plain.author == "Entry Author"
    assert plain.content == "HTML & summary"
    assert plain.published is None and plain.date == datetime(2024, 2, 1, 10, 0, tzinfo=UTC)


def test_rss10_items() -> None:
    first, second = load("rss10.xml").entries
    assert first.guid == "http://rdf.example.org/articles/1"
    assert first.author == "Grace Hopper"
    assert first.content == "We prove stability. doi:10.1234/stab.2020.1"
    assert first.categories == ("mathematics",)
    assert second.content == "Just words, 2 < 3."
    assert second.content_html is None
    assert second.published == datetime(2020, 5, 2, 10, 0, tzinfo=UTC)


# --- encodings ----------------------------------------------------------------------------------


def test_iso_8859_1_declared_feed() -> None:
    feed = load("latin1.xml")
    assert feed.title == "Café Scientifique"
    assert feed.entries[0].title == "Résumé d'article"
    assert feed.entries[0].content == "Été naïve über"


def test_windows_1252_declared_feed() -> None:
    entry = load("cp1252.xml").entries[0]
    assert entry.title == "\u201cSmart\u201d quotes cost \u20ac10"
    assert entry.content == "It\u2019s fine"


def test_http_charset_wins_over_the_declaration() -> None:
    body = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Ça</title>'
    body += "<item><title>é</title><guid>http://x/1</guid></item></channel></rss>"
    feed = parse_feed(
        body.encode("windows-1252"), headers={"Content-Type": "text/xml; charset=windows-1252"}
    )
    assert feed.title == "Ça" and feed.entries[0].title == "é"


NOT_TEXT_ENCODINGS = ["zlib", "base64", "rot13", "uu", "hex", "bz2", "quopri"]
# Text codecs that are no character set a document can be in: `undefined` always raises,
# punycode is quadratic to decode, the rest turn bytes into something else than was sent.
NOT_DOCUMENT_CHARSETS = [
    "undefined", "punycode", "idna", "unicode_escape", "raw_unicode_escape", "utf-7",
]  # fmt: skip


@pytest.mark.parametrize("encoding", NOT_TEXT_ENCODINGS + NOT_DOCUMENT_CHARSETS)
@pytest.mark.parametrize("where", ["declaration", "http"])
def test_a_codec_that_is_no_character_set_is_ignored(encoding: str, where: str) -> None:
    declared = f' encoding="{encoding}"' if where == "declaration" else ""
    # ASCII only (the one non-ASCII letter is a character reference): every codec named
    # could decode it, and punycode would take quadratic time on a big one.
    body = f'<?xml version="1.0"{declared}?><rss version="2.0"><channel><title>na&#239;ve</title>'
    body += "<item><title>Entry \\u0041 +AGEA-</title><guid>http://x/1</guid></item>"
    body += "</channel></rss>"
    headers = (
        {"Content-Type": f"application/rss+xml; charset={encoding}"} if where == "http" else {}
    )
    for variant in (body, body.replace("</channel>", "<p></channel>")):  # fast, feedparser
        feed = parse_feed(variant.encode("utf-8"), headers=headers)
        assert feed.is_feed and feed.encoding == "utf-8", feed.error
        assert feed.title == "naïve"
        assert [entry.title for entry in feed.entries] == ["Entry \\u0041 +AGEA-"]
        assert any(encoding in problem for problem in feed.bozo), feed.bozo


def test_wrong_declaration_falls_back_to_utf8() -> None:
    body = '<?xml version="1.0" encoding="x-unknown-charset"?><rss version="2.0"><channel>'
    body += "<title>naïve</title></channel></rss>"
    feed = parse_feed(body.encode("utf-8"))
    assert feed.title == "naïve"
    assert any("x-unknown-charset" in problem for problem in feed.bozo)


def test_undeclared_windows_1252_is_detected_when_it_is_not_utf8() -> None:
    body = '<rss version="2.0"><channel><title>caf\u00e9 \u201cquoted\u201d</title></channel></rss>'
    feed = parse_feed(body.encode("windows-1252"))
    assert feed.is_feed and feed.title == "caf\u00e9 \u201cquoted\u201d"
    assert feed.encoding == "cp1252"
    assert any("not valid utf-8" in problem for problem in feed.bozo)


def test_utf16_with_bom() -> None:
    body = '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>Ωmega</title>'
    body += "</channel></rss>"
    feed = parse_feed(body.encode("utf-16"))
    assert feed.is_feed and feed.title == "Ωmega"


# --- not feeds ----------------------------------------------------------------------------------


def test_html_page_with_feed_links() -> None:
    feed = load("page.html", url="https://www.shortscience.org/some/page")
    assert not feed.is_feed and feed.format == "none"
    assert [(f.url, f.title, f.type) for f in feed.discovered_feeds] == [
        ("https://www.shortscience.org/rss.xml", "Latest summaries", "application/rss+xml"),
        ("https://feeds.example.org/atom.xml", "Atom feed", "application/atom+xml"),
    ]
    assert feed.error is not None and "links to 2 feeds" in feed.error


def test_discovery_honours_base_href_and_dedupes() -> None:
    page = """<html><head><base href="https://cdn.example.org/x/">
    <link rel="alternate" type="application/rss+xml" href="feed.xml">
    <link rel="ALTERNATE" type="application/rss+xml" href="https://cdn.example.org/x/feed.xml">
    </head></html>"""
    found = discover_feeds(page, "https://example.org/")
    assert [f.url for f in found] == ["https://cdn.example.org/x/feed.xml"]


def test_xhtml_page_is_not_a_feed() -> None:
    page = b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
    page += b'<link rel="alternate" type="application/atom+xml" href="/a.atom"/></head></html>'
    feed = parse_feed(page, url="https://example.org/p")
    assert not feed.is_feed
    assert [f.url for f in feed.discovered_feeds] == ["https://example.org/a.atom"]


@pytest.mark.parametrize("body", [b"", b"   \n\t"])
def test_empty_body(body: bytes) -> None:
    feed = parse_feed(body)
    assert not feed.is_feed and feed.error == "the body is empty"


def test_garbage_gives_a_clear_error() -> None:
    feed = load("garbage.txt")
    assert not feed.is_feed
    assert feed.error is not None and feed.error.startswith(
        "not a feed: the XML is not well-formed"
    )


def test_unknown_xml_document() -> None:
    feed = parse_feed(b"<?xml version='1.0'?><catalog><book/></catalog>")
    assert not feed.is_feed
    assert feed.error == "not a feed: unknown XML document <catalog>"


def test_broken_xml_is_recovered_by_feedparser() -> None:
    feed = load("broken.xml")
    assert feed.is_feed and feed.format == "rss20"
    assert feed.title == "Broken & Bold"
    assert [e.title for e in feed.entries] == ["Item one & friends", "Item two"]
    assert feed.entries[0].content == "First" and feed.entries[0].content_html is None
    assert feed.bozo


def test_entities_are_not_expanded_from_outside() -> None:
    body = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t &xxe;</title></channel></rss>"""
    feed = parse_feed(body)
    assert "root:" not in feed.title


# --- the fast reader and feedparser agree -------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "shortscience.xml",
        "shortscience_v2.xml",
        "arxiv_rss.xml",
        "arxiv_api.xml",
        "rss090.xml",
        "rss091.xml",
        "rss10.xml",
        "rss20.xml",
        "atom10.xml",
        "latin1.xml",
        "cp1252.xml",
        "toc_rss10.xml",
        "toc_rss20.xml",
    ],
)
def test_feedparser_fallback_reads_the_same_entries(name: str) -> None:
    """Broken feeds go through feedparser: it must map entries exactly like the fast path."""
    url = "https://example.test/" + name
    body = (FIXTURES / name).read_bytes()
    fast = parse_feed(body, url=url)
    text, encoding, _ = _decode(body, None)
    lenient = _parse_with_feedparser(_as_utf8_xml(text), url, encoding, [])
    assert lenient is not None
    assert (lenient.format, lenient.title) == (fast.format, fast.title)
    assert lenient.entries == fast.entries


ENTITIES_RSS = """<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>
<title>R&amp;D Team</title><link>https://x.org/?a=1&amp;b=2</link>
<item><title>R&amp;D Team</title><link>https://x.org/item?a=1&amp;b=2</link>
<guid isPermaLink="false">tag:R&amp;D</guid><author>rd@x.org (R&amp;D Team)</author>
<category>R&amp;D</category><description>By R&amp;D Team: AT&amp;amp;T</description></item>
<item><title>Literal &amp;amp; kept</title><guid isPermaLink="false">tag:2</guid>
<dc:creator>R&amp;amp;D</dc:creator>
<description>&lt;p&gt;R&amp;amp;D &lt;b&gt;Team&lt;/b&gt;&lt;/p&gt;
</description></item>
</channel></rss>"""
ENTITIES_ATOM = """<feed xmlns="http://www.w3.org/2005/Atom">
<title type="html">R&amp;amp;D Team</title><id>urn:x</id>
<entry><id>tag:R&amp;D</id><title type="html">R&amp;amp;D Team</title>
<link href="https://x.org/e?a=1&amp;b=2"/><author><name>R&amp;D Team</name></author>
<summary type="text">Plain R&amp;amp;D</summary></entry>
<entry><id>tag:2</id><title type="text">Literal R&amp;amp;D</title>
<author><name>A &amp;amp; B</name></author>
<content type="html">&lt;p&gt;R&amp;amp;D &lt;b&gt;Team&lt;/b&gt;&lt;/p&gt;</content></entry>
</feed>"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            ENTITIES_RSS,
            [
                (
                    "R&D Team",
                    "R&D Team",
                    "tag:R&D",
                    "https://x.org/item?a=1&b=2",
                    "By R&D Team: AT&amp;T",
                ),
                ("Literal &amp; kept", "R&amp;D", "tag:2", None, "R&D Team"),
            ],
        ),
        (
            ENTITIES_ATOM,
            [
                ("R&D Team", "R&D Team", "tag:R&D", "https://x.org/e?a=1&b=2", "Plain R&amp;D"),
                ("Literal R&amp;D", "A &amp; B", "tag:2", None, "R&D Team"),
            ],
        ),
    ],
    ids=["rss", "atom"],
)
def test_entities_are_decoded_exactly_once_by_feedparser_too(
    body: str, expected: list[tuple[str, str, str, str | None, str]]
) -> None:
    """`R&amp;D Team` is `R&D Team`, and text that really reads `&amp;` keeps it, whether the
    feed is well-formed (read with ElementTree) or broken (read with feedparser)."""
    broken = body.replace("</channel>", "<p></channel>").replace("</feed>", "<p></feed>")
    fast, lenient = parse_feed(body.encode()), parse_feed(broken.encode())
    assert lenient.bozo and not fast.bozo  # the second one did go through feedparser
    for feed in (fast, lenient):
        assert feed.title == "R&D Team"
        got = [(e.title, e.author, e.guid, e.link, e.content) for e in feed.entries]
        assert got == expected
    assert lenient.entries == fast.entries


# --- identity -----------------------------------------------------------------------------------


@dataclass
class Item:
    guid: str | None = None
    link: str | None = None
    title: str = ""
    date: datetime | None = None
    content: str = ""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_identity_prefers_guid() -> None:
    items = [Item(guid="a", link="x"), Item(guid="b", link="x")]
    assert choose_identity(items) == [sha("a"), sha("b")]


def test_identity_falls_back_to_link_when_a_guid_is_missing_or_repeated() -> None:
    missing = [Item(guid="a", link="x"), Item(guid=None, link="y")]
    assert choose_identity(missing) == [sha("x"), sha("y")]
    repeated = [Item(guid="same", link="x"), Item(guid="same", link="y")]
    assert choose_identity(repeated) == [sha("x"), sha("y")]


def test_identity_falls_back_to_title_and_date() -> None:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    items = [
        Item(link="home", title="one", date=moment),
        Item(link="home", title="two", date=moment),
    ]
    assert choose_identity(items) == [
        sha("one\n2024-01-01T00:00:00+00:00"),
        sha("two\n2024-01-01T00:00:00+00:00"),
    ]


def test_identity_without_a_complete_basis_uses_each_entry_best() -> None:
    items = [Item(guid="g"), Item(link="l"), Item(title="t"), Item(content="c")]
    assert choose_identity(items) == [sha("g"), sha("l"), sha("entry:t\n"), sha("entry:\nc")]


def bare_rss(descriptions: list[str], date: str | None = None) -> bytes:
    """Valid RSS 2.0 whose items have only a description (and maybe a date)."""
    when = f"<pubDate>{date}</pubDate>" if date else ""
    items = "".join(f"<item><description>{d}</description>{when}</item>" for d in descriptions)
    return f'<rss version="2.0"><channel><title>Bare</title>{items}</channel></rss>'.encode()


@pytest.mark.parametrize("date", [None, "Tue, 14 Mar 2017 09:21:07 +0000"])
def test_entries_without_guid_link_or_title_each_get_their_own_stable_identity(
    date: str | None,
) -> None:
    texts = [f"Notice number {n}." for n in range(5)]
    feed = parse_feed(bare_rss(texts, date))
    identities = [entry.identity for entry in feed.entries]
    external = [entry.external_id for entry in feed.entries]
    assert len(set(identities)) == 5 and len(set(external)) == 5
    # Stable across polls: a new entry on top and one dropped at the bottom change nothing.
    later = parse_feed(bare_rss(["A newer notice.", *texts[:4]], date))
    assert [entry.identity for entry in later.entries][1:] == identities[:4]
    assert [entry.external_id for entry in later.entries][1:] == external[:4]
    # The same item twice is one entry, as with a repeated guid.
    twice = parse_feed(bare_rss([texts[0], texts[0]], date))
    assert twice.entries[0].identity == twice.entries[1].identity


def test_the_same_text_on_another_date_is_another_entry() -> None:
    body = (
        '<rss version="2.0"><channel><title>Bare</title>'
        "<item><description>Server restarted.</description>"
        "<pubDate>Tue, 14 Mar 2017 09:21:07 +0000</pubDate></item>"
        "<item><description>Server restarted.</description>"
        "<pubDate>Mon, 13 Mar 2017 09:21:07 +0000</pubDate></item>"
        "</channel></rss>"
    )
    first, second = parse_feed(body.encode()).entries
    assert first.identity != second.identity and first.external_id != second.external_id


def test_identity_of_arxiv_guids_ignores_the_version() -> None:
    items = [Item(guid="oai:arXiv.org:2101.00001v1"), Item(guid="oai:arXiv.org:2101.00002v3")]
    assert choose_identity(items) == [
        sha("oai:arXiv.org:2101.00001"),
        sha("oai:arXiv.org:2101.00002"),
    ]
    assert choose_identity([]) == []


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=20, unique=True))
def test_identity_is_unique_when_guids_are(guids: list[str]) -> None:
    identities = choose_identity([Item(guid=guid) for guid in guids])
    assert len(set(identities)) == len(guids)
    assert identities == choose_identity([Item(guid=guid) for guid in guids])


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mon, 06 Sep 2021 16:45:00 +0000", datetime(2021, 9, 6, 16, 45, tzinfo=UTC)),
        ("Mon, 06 Sep 2021 16:45:00 -0500", datetime(2021, 9, 6, 21, 45, tzinfo=UTC)),
        ("6 Sep 2021 16:45 GMT", datetime(2021, 9, 6, 16, 45, tzinfo=UTC)),
        ("Mon, 6 Sep 2021 16:45:00 EST", datetime(2021, 9, 6, 21, 45, tzinfo=UTC)),
        ("2021-09-06T16:45:00Z", datetime(2021, 9, 6, 16, 45, tzinfo=UTC)),
        ("2021-09-06T18:45:00+02:00", datetime(2021, 9, 6, 16, 45, tzinfo=UTC)),
        ("2021-09-06", datetime(2021, 9, 6, tzinfo=UTC)),
        ("Mon, 31 Feb 2021 16:45:00 +0000", None),
        ("not a date", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(text: str | None, expected: datetime | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31 Dec 9999 23:00 -1200",  # past datetime.max once in UTC
        "Fri, 31 Dec 9999 23:00:00 -1200",
        "01 Jan 0001 +0100",  # before datetime.min once in UTC
        "Mon, 01 Jan 0001 00:00:00 +0100",
        "9999-12-31T23:00:00-12:00",
        "0001-01-01T00:00:00+01:00",
        "0001-01-01",
        "9999-12-31",
        "Sun, 31 Dec 1989 23:59:59 +0000",  # before 1990: not a summary's date
        "Tue, 14 Mar 2317 09:21:07 +0000",  # centuries ahead
        "2099-01-01T00:00:00Z",
        "Wed, 31 Dec 9999 23:59:59 GMT",
    ],
)
def test_dates_outside_1990_to_tomorrow_are_unknown_and_never_raise(text: str) -> None:
    assert parse_date(text) is None


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.builds(
            lambda day, month, year, zone: f"{day:02d} {month} {year:04d} 23:00 {zone}",
            st.integers(1, 31),
            st.sampled_from(["Jan", "Feb", "Dec"]),
            st.integers(1, 9999),
            st.sampled_from(["+1400", "-1200", "+0000", "GMT", "-2359", "+9999"]),
        ),
        st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    )
)
def test_parse_date_never_raises_and_stays_in_range(text: str) -> None:
    value = parse_date(text)
    assert value is None or EARLIEST_DATE <= value <= datetime.now(UTC) + LATEST_DATE_AHEAD


def test_dates_up_to_a_day_ahead_are_kept() -> None:
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=20)
    assert parse_date(soon.isoformat()) == soon
    assert parse_date("1990-01-01T00:00:00Z") == datetime(1990, 1, 1, tzinfo=UTC)
    assert parse_date((soon + timedelta(days=2)).isoformat()) is None


def test_a_feed_with_dates_at_the_edges_of_datetime_keeps_every_entry() -> None:
    items = [
        ("Far future", "31 Dec 9999 23:00 -1200"),
        ("Year one", "01 Jan 0001 +0100"),
        ("Innocent", "Tue, 14 Mar 2017 09:21:07 +0000"),
    ]
    body = (
        '<rss version="2.0"><channel><title>T</title>'
        + "".join(
            f"<item><title>{title}</title><link>https://x.org/{n}</link><pubDate>{date}</pubDate>"
            "</item>"
            for n, (title, date) in enumerate(items)
        )
        + "</channel></rss>"
    )
    for variant in (body, body.replace("</channel>", "<p></channel>")):  # fast, feedparser
        feed = parse_feed(variant.encode())
        assert [(e.title, e.published) for e in feed.entries] == [
            ("Far future", None),
            ("Year one", None),
            ("Innocent", datetime(2017, 3, 14, 9, 21, 7, tzinfo=UTC)),
        ]


@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ("12", 12),
        ("9223372036854775807", 100_000),
        ("99999999999999999999999999", 100_000),
        ("-9223372036854775808", -100_000),
        ("1" * 5000, None),  # more digits than int() reads
        ("many", None),
    ],
)
def test_vote_counts_from_a_feed_are_clamped(votes: str, expected: int | None) -> None:
    item = (
        "<item><title>T</title><link>https://www.shortscience.org/paper?bibtexKey=k#u</link>"
        f"<shortscience:bibtexkey>k</shortscience:bibtexkey><shortscience:votes>{votes}"
        "</shortscience:votes></item>"
    )
    body = (
        '<rss version="2.0" xmlns:shortscience="http://www.shortscience.org"><channel>'
        f"<title>S</title>{item}</channel></rss>"
    )
    for variant in (body, body.replace("</channel>", "<p></channel>")):  # fast, feedparser
        [entry] = parse_feed(variant.encode()).entries
        assert entry.votes == expected


def test_html_to_text() -> None:
    html = (
        '<p>Hello <b>world</b> &amp; <a href="https://x.org/a">link</a></p><p>Two<br/>lines</p>'
        "<ul><li>a</li><li>b</li></ul>after<script>alert(1)</script>"
    )
    assert html_to_text(html) == (
        "Hello world & [link](https://x.org/a)\n\nTwo\nlines\n\n- a\n- b\n\nafter"
    )


# --- streaming (imports) ------------------------------------------------------------------------


def read_stream(stream: FeedStream) -> list[FeedEntry]:
    got: list[FeedEntry] = []
    while (batch := stream.next_batch()) is not None:
        assert batch, "never an empty batch"
        got.extend(batch)
    return got


def without_identity(entries: list[FeedEntry]) -> list[FeedEntry]:
    return [replace(entry, identity="") for entry in entries]


@pytest.mark.parametrize("batch_size", [1, 2, 100])
@pytest.mark.parametrize(
    "name", sorted(path.name for path in FIXTURES.iterdir() if path.suffix in (".xml", ".html"))
)
def test_stream_gives_the_same_entries_as_parse_feed(name: str, batch_size: int) -> None:
    body = (FIXTURES / name).read_bytes()
    url = "https://example.test/" + name
    whole = parse_feed(body, url=url)
    stream = FeedStream(body, url=url, batch_size=batch_size)
    assert without_identity(read_stream(stream)) == without_identity(whole.entries)
    assert (stream.feed.is_feed, stream.feed.format, stream.feed.title) == (
        whole.is_feed, whole.format, whole.title,
    )  # fmt: skip
    assert stream.feed.link == whole.link and stream.feed.ttl == whole.ttl


def test_stream_reads_utf8_rss_incrementally_and_the_rest_whole() -> None:
    assert FeedStream((FIXTURES / "shortscience.xml").read_bytes()).incremental
    assert FeedStream((FIXTURES / "shortscience.xml").read_bytes()).estimated_total == 5
    assert not FeedStream((FIXTURES / "atom10.xml").read_bytes()).incremental
    assert not FeedStream((FIXTURES / "latin1.xml").read_bytes()).incremental
    with pytest.raises(ValueError, match="batch_size"):
        FeedStream(b"<rss/>", batch_size=0)


def test_stream_broken_midway_does_not_repeat_entries() -> None:
    items = "".join(
        f"<item><title>t{n}</title><guid>http://x.org/{n}</guid></item>" for n in range(7)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}'
    body += "<item><title>bad & worse</title><guid>http://x.org/7</guid></item></channel></rss>"
    stream = FeedStream(body.encode(), batch_size=3)
    got = read_stream(stream)
    assert [entry.guid for entry in got] == [f"http://x.org/{n}" for n in range(8)]
    assert stream.feed.bozo  # the rest came from feedparser


def test_stream_needs_the_channel_link_before_hashing() -> None:
    items = "".join(f"<item><title>t{n}</title><guid>id-{n}</guid></item>" for n in range(4))
    body = f'<rss version="2.0"><channel><title>T</title>{items}<link>http://late.org/</link>'
    body += "</channel></rss>"
    whole = parse_feed(body.encode())
    got = read_stream(FeedStream(body.encode(), batch_size=2))
    assert [e.external_id for e in got] == [e.external_id for e in whole.entries]
    assert all(e.external_id.startswith("urn:sha256:") for e in got)


# --- the quick arXiv id check agrees with bot.papers --------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"\A[0-9]{4}\.[0-9]{4,5}(v[0-9]{1,3})?\Z", fullmatch=True)
    | st.sampled_from(["0704.0001", "0703.9999", "1412.1234", "1501.12345", "1501.1234",
                       "1312.00001", "2101.00001v0", "2113.00001", "9912.12345v999"])
)  # fmt: skip
def test_quick_arxiv_check_never_disagrees_with_bot_papers(text: str) -> None:
    quick = _plain_new_style_arxiv_id(text)
    if quick is None:
        return  # deferred to bot.papers
    parsed = parse_paper_id(text)
    assert isinstance(parsed, PaperId) and parsed.kind == "arxiv"
    assert (parsed.value, parsed.version) == quick
