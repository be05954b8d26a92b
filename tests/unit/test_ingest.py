"""Feed entries into papers and summaries: mapping, idempotence, edits, imports from files and
URLs (served by the local feed server)."""

from __future__ import annotations

import gc
import gzip
import importlib.util
import io
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest

from bot.collector import BULK_YOUNG_THRESHOLD
from bot.feeds import parse_feed
from bot.ingest import (
    FeedImportError,
    import_source,
    ingest_entries,
    is_abstract_text,
    paper_details,
)
from bot.papers import PaperId
from bot.storage import Database
from bot.storage.papers import PaperDetails, PaperRepository
from bot.storage.summaries import SummaryRepository
from tests.feedserver import FeedServer, feed_server

__all__ = ["feed_server"]  # the fixture, imported for the tests below

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
SS = "https://www.shortscience.org/paper?bibtexKey="


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "ingest.sqlite3")
    await database.migrate()
    yield database
    await database.close()


def entries(name: str):
    return parse_feed((FIXTURES / name).read_bytes()).entries


async def count(db: Database, table: str) -> int:
    queries = {
        "papers": "SELECT count(*) FROM papers",
        "summaries": "SELECT count(*) FROM summaries",
    }
    return int(await db.fetchval(queries[table]))


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_shortscience", FIXTURES / "generate_shortscience.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dump(count: int) -> str:
    out = io.StringIO()
    generator().write(count, out)
    return out.getvalue()


# --- ShortScience -------------------------------------------------------------------------------


async def test_shortscience_import_creates_papers_and_summaries(db: Database) -> None:
    stats = await ingest_entries(db, entries("shortscience.xml"), origin_feed_title="SS")
    assert (stats.inserted, stats.updated, stats.unchanged) == (5, 0, 0)
    assert stats.papers_created == 4  # the two Transformer summaries share a paper
    assert await count(db, "papers") == 4

    papers = PaperRepository(db)
    summaries = SummaryRepository(db)
    batchnorm = await papers.find(PaperId(kind="arxiv", value="1502.03167"))
    assert batchnorm is not None
    assert batchnorm.bibtex_key == "journals/corr/IoffeS15"
    assert batchnorm.title.startswith("Batch Normalization: Accelerating")
    assert batchnorm.url == "https://arxiv.org/abs/1502.03167"
    assert batchnorm.pdf_url == "https://arxiv.org/pdf/1502.03167"
    assert batchnorm.year == 2015

    (summary,) = await summaries.list_for_paper(batchnorm.id, guild_id=None)
    assert summary.origin == "feed" and summary.author_name == "udibr" and summary.score == 12
    assert summary.external_id == f"{SS}journals/corr/IoffeS15#udibr"
    assert summary.url == summary.external_id
    assert "$x^*$" in summary.body and r"$\text{batch size} < 32$ & with dropout" in summary.body
    assert summary.created_at == summary.edited_at == stats.results[0].entry.updated

    transformer = await papers.find(PaperId(kind="bibtex", value="journals/corr/VaswaniSPUJGKP17"))
    assert transformer is not None and transformer.arxiv_id == "1706.03762"
    two = await summaries.list_for_paper(transformer.id, guild_id=None)
    assert [s.author_name for s in two] == ["hlarochelle", "Anonymous"]  # by score

    resnet = await papers.find(PaperId(kind="bibtex", value="conf/cvpr/HeZRS16"))
    assert resnet is not None and resnet.arxiv_id is None
    assert resnet.url == f"{SS}conf/cvpr/HeZRS16"
    # A ShortScience key that is a DOI is the paper's DOI too.
    nature = await papers.find(PaperId(kind="doi", value="10.1038/nature14539"))
    assert nature is not None and nature.bibtex_key == "10.1038/nature14539"


async def test_importing_the_same_entries_twice_adds_nothing(db: Database) -> None:
    await ingest_entries(db, entries("shortscience.xml"))
    again = await ingest_entries(db, entries("shortscience.xml"))
    assert (again.inserted, again.updated, again.unchanged, again.papers_created) == (0, 0, 5, 0)
    assert await count(db, "summaries") == 5 and await count(db, "papers") == 4


async def test_edited_entries_update_their_rows(db: Database) -> None:
    first = await ingest_entries(db, entries("shortscience.xml"))
    second = await ingest_entries(db, entries("shortscience_v2.xml"))
    assert (second.inserted, second.updated, second.unchanged) == (1, 2, 3)
    assert second.papers_created == 1
    assert await count(db, "summaries") == 6
    by_id = {r.entry.external_id: r for r in second.results}
    edited = by_id[f"{SS}journals/corr/VaswaniSPUJGKP17#hlarochelle"]
    assert edited.status == "updated"
    before = {r.entry.external_id: r.summary_id for r in first.results}
    assert edited.summary_id == before[edited.entry.external_id]
    stored = await SummaryRepository(db).get(edited.summary_id, guild_id=None)
    assert stored is not None and "Edit: the heads are concatenated" in stored.body
    assert stored.score == 9
    assert by_id[f"{SS}journals/corr/IoffeS15#udibr"].status == "updated"  # votes 12 -> 13
    # Going back to the old file does not undo the edit: that version is older. (Votes carry
    # no date: udibr's, at the same pubDate, do follow the file.)
    back = await ingest_entries(db, entries("shortscience.xml"))
    back_by_id = {r.entry.external_id: r.status for r in back.results}
    assert back_by_id[edited.entry.external_id] == "unchanged"
    assert back.inserted == 0 and back.updated == 1
    stored = await SummaryRepository(db).get(edited.summary_id, guild_id=None)
    assert stored is not None and "Edit: the heads are concatenated" in stored.body


async def test_results_give_each_entry_its_summary_and_paper(db: Database) -> None:
    stats = await ingest_entries(db, entries("shortscience.xml"), batch_size=2)
    assert [r.status for r in stats.results] == ["inserted"] * 5
    assert len({r.summary_id for r in stats.results}) == 5
    assert stats.results[1].paper_id == stats.results[2].paper_id
    assert stats.total == 5


# --- arXiv and generic feeds --------------------------------------------------------------------


async def test_arxiv_feeds_share_papers_with_shortscience(db: Database) -> None:
    await ingest_entries(db, entries("shortscience.xml"))
    rss = await ingest_entries(db, entries("arxiv_rss.xml"))
    assert rss.inserted == 4 and rss.papers_created == 4
    api = await ingest_entries(db, entries("arxiv_api.xml"))
    assert api.inserted == 2 and api.papers_created == 1  # Batch Normalization already known
    papers = PaperRepository(db)
    batchnorm = await papers.find(PaperId(kind="arxiv", value="1502.03167"))
    assert batchnorm is not None
    assert batchnorm.doi == "10.5555/3045118.3045167"  # learnt from the API entry
    assert batchnorm.abstract is not None and batchnorm.abstract.startswith("Training Deep")
    assert batchnorm.venue == "ICML 2015"
    assert batchnorm.title.endswith("Internal Covariate Shift")  # kept
    replaced = await papers.find(PaperId(kind="arxiv", value="2301.01234"))
    assert replaced is not None and replaced.doi == "10.1000/journal.2023.42"
    assert replaced.authors == "Dan Brown, Eve Black"
    old = await papers.find(PaperId(kind="arxiv", value="hep-th/9901001"))
    assert old is not None and old.year == 1999
    # A new version of an announced paper is the same summary, edited.
    body = (FIXTURES / "arxiv_rss.xml").read_bytes()
    body = body.replace(b"oai:arXiv.org:2401.10241v1", b"oai:arXiv.org:2401.10241v2")
    body = body.replace(b"routing_loss matters.", b"routing_loss matters a lot.")
    body = body.replace(
        b"<pubDate>Mon, 22 Jan 2024 00:00:00 -0500</pubDate>\n      <arxiv:announce_type>new",
        b"<pubDate>Tue, 23 Jan 2024 00:00:00 -0500</pubDate>\n      <arxiv:announce_type>new",
    )
    again = await ingest_entries(db, parse_feed(body).entries)
    assert (again.inserted, again.updated) == (0, 1)


async def test_generic_items_link_papers_only_when_they_name_one(db: Database) -> None:
    stats = await ingest_entries(db, entries("rss20.xml"))
    transformer, doi_post, digest, nothing = stats.results
    papers = PaperRepository(db)
    assert transformer.paper_id is not None
    paper = await papers.get(transformer.paper_id)
    assert paper is not None and paper.arxiv_id == "1706.03762"
    assert paper.title == ""  # a blog post's title is not the paper's
    assert doi_post.paper_id is not None
    assert (await papers.get(doi_post.paper_id)).doi == "10.1145/3292500.3330701"  # type: ignore[union-attr]
    assert digest.paper_id is None  # two papers mentioned: about none of them
    assert nothing.paper_id is None
    stored = await SummaryRepository(db).get(nothing.summary_id, guild_id=None)
    assert stored is not None
    assert stored.title == "No paper here" and stored.display_title == "No paper here"
    assert stored.author_name == "Anonymous" and stored.body == "Just thoughts."
    first = await SummaryRepository(db).get(transformer.summary_id, guild_id=None)
    assert first is not None and first.author_name == "Jo Writer"
    assert first.body.startswith("A [classic paper](https://arxiv.org/abs/1706.03762)")


# --- summaries and abstracts --------------------------------------------------------------------


async def kinds(db: Database, results: list) -> list[str]:
    summaries = SummaryRepository(db)
    found = [await summaries.get(item.summary_id, guild_id=None) for item in results]
    return [summary.kind for summary in found if summary is not None]


async def test_arxiv_and_table_of_contents_entries_are_stored_as_abstracts(db: Database) -> None:
    shortscience = await ingest_entries(db, entries("shortscience.xml"))
    assert set(await kinds(db, shortscience.results)) == {"summary"}
    for name in ("arxiv_rss.xml", "arxiv_api.xml", "toc_rss20.xml"):
        stats = await ingest_entries(db, entries(name))
        expected = ["abstract"] * len(stats.results)
        if name == "toc_rss20.xml":
            expected[-1] = "summary"  # the editorial names no DOI: a post like any other
        assert await kinds(db, stats.results) == expected, name
    article = await PaperRepository(db).find(PaperId("doi", "10.1038/s41586-024-00001-1"))
    assert article is not None
    assert (article.title, article.authors) == ("Sparse Coding Revisited", "Ada Lovelace")
    assert article.abstract is None  # a table of contents may give a teaser: left to Crossref


def rss_item(guid: str, text: str, *, link: str = "https://arxiv.org/abs/2401.10241") -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>'
        f"<link>https://blog.example/</link><item><guid>{guid}</guid><title>A post</title>"
        f"<link>{link}</link><description>{text}</description></item></channel></rss>"
    ).encode()


async def test_a_generic_entry_whose_text_is_its_papers_abstract_is_an_abstract(
    db: Database,
) -> None:
    await ingest_entries(db, entries("arxiv_rss.xml"))  # the paper and its abstract are known
    abstract = (
        "We study sparse mixtures of experts where only $k &lt; n$ experts are active "
        "&amp; show that routing_loss matters."
    )
    copied = await ingest_entries(db, parse_feed(rss_item("copy", "ABSTRACT: " + abstract)).entries)
    written = await ingest_entries(
        db, parse_feed(rss_item("own", "Why routing matters, in my words.")).entries
    )
    assert await kinds(db, copied.results) == ["abstract"]
    assert await kinds(db, written.results) == ["summary"]


async def test_an_entry_is_classified_again_when_its_paper_abstract_becomes_known(
    db: Database,
) -> None:
    text = "Routing " + " ".join(f"word{n}" for n in range(40)) + " and more."
    link = "https://arxiv.org/abs/2402.00001"
    first = await ingest_entries(db, parse_feed(rss_item("g", text, link=link)).entries)
    assert await kinds(db, first.results) == ["summary"]  # the abstract is unknown yet
    papers = PaperRepository(db)
    paper = await papers.find(PaperId("arxiv", "2402.00001"))
    assert paper is not None
    await papers.fill_missing(
        paper.id, PaperDetails(ids=(PaperId("arxiv", "2402.00001"),), abstract=text)
    )
    again = await ingest_entries(db, parse_feed(rss_item("g", text, link=link)).entries)
    assert [item.status for item in again.results] == ["updated"]
    assert await kinds(db, again.results) == ["abstract"]


@pytest.mark.parametrize(
    ("text", "abstract", "expected"),
    [
        ("We show X. It works.", "we show x it works", True),
        ("Abstract: We show X.", "We show X.", True),
        ("We show X.", None, False),
        ("", "We show X.", False),
        ("We show X, and here is why it matters to me.", "We show X.", False),
        # Cut short with an ellipsis: its opening, when long enough to tell.
        (" ".join(f"w{n}" for n in range(25)) + " w2…", " ".join(f"w{n}" for n in range(60)), True),
        ("w0 w1 w2…", "w0 w1 w2 w3 w4", False),
        (" ".join(f"w{n}" for n in range(25)) + "…", " ".join(f"x{n}" for n in range(60)), False),
    ],
)
def test_is_abstract_text(text: str, abstract: str | None, expected: bool) -> None:
    assert is_abstract_text(text, abstract) is expected


async def test_paper_details_rules() -> None:
    rss091 = entries("rss091.xml")
    details = paper_details(rss091[0])  # "Week 1: arXiv:1706.03762" in the title
    assert details is not None
    assert details.ids == (PaperId(kind="arxiv", value="1706.03762"),)
    assert paper_details(rss091[1]) is None
    atom = entries("atom10.xml")
    resnet = paper_details(atom[0])  # one paper linked from the text
    assert resnet is not None and resnet.ids == (PaperId(kind="arxiv", value="1512.03385"),)


async def test_ingest_joins_the_callers_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await ingest_entries(db, entries("shortscience.xml"), conn=conn)
            assert await count(db, "summaries") == 5  # visible inside
            raise RuntimeError("the outbox write failed")
    assert await count(db, "summaries") == 0 and await count(db, "papers") == 0


async def test_ingest_nothing(db: Database) -> None:
    stats = await ingest_entries(db, [])
    assert stats.total == 0 and stats.results == []


# --- import_source ------------------------------------------------------------------------------


async def test_import_a_file_with_progress(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "dump.xml"
    path.write_text(dump(250), encoding="utf-8")
    calls: list[tuple[int, int]] = []
    stats = await import_source(
        db, None, str(path), progress=lambda done, total: calls.append((done, total)),
        batch_size=100,
    )  # fmt: skip
    assert stats.inserted == 250 and stats.results == []
    assert calls == [(0, 250), (100, 250), (200, 250), (250, 250), (250, 250)]
    again = await import_source(db, None, str(path), batch_size=100)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 250)
    assert await count(db, "summaries") == 250


async def test_an_import_holds_the_collector_back_while_it_runs(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "dump.xml"
    path.write_text(dump(250), encoding="utf-8")
    before = gc.get_threshold()
    during: list[int] = []
    await import_source(
        db, None, str(path), progress=lambda done, total: during.append(gc.get_threshold()[0]),
        batch_size=100,
    )  # fmt: skip
    # Held back from the first stored batch to the last; as before once the import returns.
    assert during[1:-1] == [BULK_YOUNG_THRESHOLD] * 3
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


async def test_import_a_gzip_file(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "shortscience.xml.gz"
    path.write_bytes(gzip.compress((FIXTURES / "shortscience.xml").read_bytes()))
    stats = await import_source(db, None, str(path))
    assert stats.inserted == 5


async def test_import_other_formats_from_files(db: Database) -> None:
    for name, expected in (("arxiv_api.xml", 2), ("atom10.xml", 2), ("latin1.xml", 1)):
        stats = await import_source(db, None, str(FIXTURES / name))
        assert stats.inserted == expected, name


async def test_import_recovers_a_feed_broken_after_some_batches(
    db: Database, tmp_path: Path
) -> None:
    text = dump(30).replace("</channel>", "<broken & unclosed></channel>")
    path = tmp_path / "broken.xml"
    path.write_text(text, encoding="utf-8")
    stats = await import_source(db, None, str(path), batch_size=10)
    assert stats.inserted == 30 and stats.unchanged == 0
    assert await count(db, "summaries") == 30


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("garbage.txt", "not a feed: the XML is not well-formed"),
        ("page.html", "this is an HTML page, not a feed; the page links to 2 feeds"),
        ("arxiv_api_error.xml", "the arXiv API reported an error"),
        ("missing.xml", "no such file"),
    ],
)
async def test_import_errors_from_files(db: Database, name: str, message: str) -> None:
    with pytest.raises(FeedImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await import_source(db, None, str(FIXTURES / name))


async def test_import_a_directory_or_a_broken_gzip(db: Database, tmp_path: Path) -> None:
    with pytest.raises(FeedImportError, match="is a directory"):
        await import_source(db, None, str(tmp_path))
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8b" + b"not gzip")
    with pytest.raises(FeedImportError, match="broken gzip file"):
        await import_source(db, None, str(path))


async def test_import_from_a_url(db: Database, feed_server: FeedServer) -> None:
    async with aiohttp.ClientSession() as session:
        stats = await import_source(db, session, feed_server.url("/fixtures/shortscience.xml"))
        assert stats.inserted == 5
        compressed = await import_source(db, session, feed_server.url("/gzip/rss20.xml"))
        assert compressed.inserted == 4


async def test_import_follows_a_page_to_its_feed(db: Database, feed_server: FeedServer) -> None:
    page = '<html><head><link rel="alternate" type="application/rss+xml"'
    page += ' href="/fixtures/shortscience_v2.xml"></head></html>'
    url = feed_server.set_feed("page", page, content_type="text/html; charset=utf-8")
    stats = await import_source(db, None, url)
    assert stats.inserted == 6
    assert feed_server.requests["/fixtures/shortscience_v2.xml"] == 1


async def test_import_errors_from_urls(db: Database, feed_server: FeedServer) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(FeedImportError, match="HTTP 500"):
            await import_source(db, session, feed_server.url("/status/500"))
        with pytest.raises(FeedImportError, match="HTTP 404"):  # the page's feed is missing
            await import_source(db, session, feed_server.url("/fixtures/page.html"))
        with pytest.raises(FeedImportError, match="the body is empty"):
            await import_source(db, session, feed_server.url("/empty"))
