"""The arXiv client against the local fixture server: parsing, spacing, cache, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.community.arxiv import (
    ArxivClient,
    ArxivLookupError,
    parse_arxiv_response,
    title_search_query,
)
from bot.pacing import RequestSpacer
from tests.fixtures.arxiv import search
from tests.fixtures.arxiv.server import FIXTURES, ArxivFixtureServer
from tests.fixtures.chunked import chunk_size


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def make_client(
    session: aiohttp.ClientSession, server: ArxivFixtureServer, **kwargs: float
) -> ArxivClient:
    return ArxivClient(
        session,
        api_url=server.url,
        min_interval=kwargs.get("min_interval", 0.0),
        timeout=kwargs.get("timeout", 5.0),
        spacer=RequestSpacer(),
    )


def test_parse_fixture() -> None:
    result = parse_arxiv_response((FIXTURES / "1502.03167.xml").read_bytes())
    paper = result.papers["1502.03167"]
    assert paper.version == 3
    assert paper.title == (
        "Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
        "Covariate Shift"
    )
    assert paper.authors == ("Sergey Ioffe", "Christian Szegedy")
    assert paper.year == 2015
    assert paper.categories == ("cs.LG",)
    assert paper.abstract.startswith("Training Deep Neural Networks")
    assert paper.pdf_url == "https://arxiv.org/pdf/1502.03167v3"


def test_parse_error_entry_and_garbage() -> None:
    with pytest.raises(ArxivLookupError, match="incorrect id format"):
        parse_arxiv_response((FIXTURES / "error.xml").read_bytes())
    with pytest.raises(ArxivLookupError):
        parse_arxiv_response(b"<html><body>Service unavailable</body></html>")
    assert parse_arxiv_response((FIXTURES / "empty.xml").read_bytes()).papers == {}


async def test_lookup_found_not_found_and_cached(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    client = make_client(session, server)
    paper = await client.lookup("1706.03762")
    assert paper is not None and paper.categories == ("cs.CL", "cs.LG")
    assert await client.lookup("2401.00001") is None
    # Both answers, "not found" included, come from the cache the second time.
    assert await client.lookup("1706.03762") == paper
    assert await client.lookup("2401.00001") is None
    assert len(server.requests) == 2


async def test_batch_lookup_is_one_request(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    client = make_client(session, server)
    found = await client.lookup_many(["1502.03167", "1706.03762", "2401.00001"])
    assert set(found) == {"1502.03167", "1706.03762"}
    assert len(server.requests) == 1


async def test_concurrent_lookups_of_one_id_share_a_request(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    client = make_client(session, server, min_interval=0.05)
    papers = await asyncio.gather(*(client.lookup("1502.03167") for _ in range(20)))
    assert all(p is not None and p.arxiv_id == "1502.03167" for p in papers)
    assert server.requested_ids == ["1502.03167"]


async def test_requests_are_spaced_across_clients(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    """Two clients sharing the process spacer queue behind each other (clock frozen)."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    spacer = RequestSpacer(clock=lambda: 50.0, sleep=fake_sleep)
    clients = [
        ArxivClient(session, api_url=server.url, min_interval=3.0, spacer=spacer) for _ in range(2)
    ]
    await asyncio.gather(
        clients[0].lookup("1502.03167"),
        clients[1].lookup("1706.03762"),
        clients[0].lookup("2401.00001"),
    )
    assert len(server.requests) == 3
    assert sorted(slept) == [3.0, 6.0]
    # A title search takes its turn in the same queue.
    slept.clear()
    await asyncio.gather(
        clients[0].lookup("1711.05101"), clients[1].search_titles("Group Normalization")
    )
    assert sorted(slept) == [9.0, 12.0]


async def test_error_entry_outage_and_timeout_raise(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    client = make_client(session, server, timeout=0.3)
    server.error_ids.add("2101.99999")
    with pytest.raises(ArxivLookupError, match="incorrect id format"):
        await client.lookup("2101.99999")
    server.hang_ids.add("2102.00001")
    with pytest.raises(ArxivLookupError, match="did not answer"):
        await client.lookup("2102.00001")
    client.timeout = 5.0  # room for whole answers, sent in many chunks, on a busy machine
    server.outage_status = 503
    with pytest.raises(ArxivLookupError, match="HTTP 503"):
        await client.lookup("1502.03167")
    # Failures are not cached: once arXiv is back the same id resolves.
    server.outage_status = None
    assert await client.lookup("1502.03167") is not None
    server.error_ids.clear()
    assert await client.lookup("2101.99999") is None


async def test_waiters_share_a_failure(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    client = make_client(session, server)
    server.outage_status = 500
    results = await asyncio.gather(
        *(client.lookup("1706.03762") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, ArxivLookupError) for r in results)
    assert len(server.requests) == 1


async def test_a_reply_sent_in_many_small_chunks_is_read_whole(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    """Regression: the body was read with `content.read(n)`, which returns only what is
    already buffered, so a reply arriving in several chunks was cut short and the paper
    reported as not found (or the answer as not a feed)."""
    body = (FIXTURES / "1502.03167.xml").read_bytes()
    assert len(body) // chunk_size(len(body)) >= 8  # the server sends it in many chunks
    client = make_client(session, server)
    found = await client.lookup_many(["1502.03167", "1706.03762"])
    assert set(found) == {"1502.03167", "1706.03762"}
    paper = found["1502.03167"]
    assert paper.authors == ("Sergey Ioffe", "Christian Szegedy")
    assert paper.abstract.endswith("address the problem by normalizing layer inputs.")


async def test_an_oversized_reply_fails_cleanly(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    client = ArxivClient(
        session, api_url=server.url, min_interval=0, spacer=RequestSpacer(), max_body_bytes=1000
    )
    with pytest.raises(ArxivLookupError, match="larger than 1000 bytes"):
        await client.lookup("1502.03167")
    # Nothing was cached: a client with room for the answer still finds it.
    assert await make_client(session, server).lookup("1502.03167") is not None


def test_a_title_search_is_made_of_the_titles_words_only() -> None:
    assert title_search_query("Attention Is All You Need") == (
        'ti:"attention is all you need" OR (ti:attention AND ti:all AND ti:need)'
    )
    assert title_search_query("  Normalization ") == 'ti:"normalization"'
    assert title_search_query("?!* ()") is None
    # Quotes, colons, brackets, wildcards and operators typed in a title are separators or
    # lower-case words: never syntax. Operator words stay out of the AND clauses.
    hostile = 'x" OR au:Vaswani ANDNOT (ti:"need*) AND'
    query = title_search_query(hostile)
    assert query == (
        'ti:"x or au vaswani andnot ti need and" OR (ti:x AND ti:au AND ti:vaswani AND ti:ti '
        "AND ti:need)"
    )
    node = search.parse(query)
    assert {term.field for term in search.terms(node)} == {"ti"}
    assert search.operators(node) == ["OR", "AND", "AND", "AND", "AND"]
    # Bounded, however long the title.
    long_query = title_search_query(" ".join(f"word{i}" for i in range(200)))
    assert long_query is not None and long_query.count("ti:") == 1 + 10
    assert len(long_query) < 400


async def test_title_search_in_relevance_order_cached_and_remembered(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    client = make_client(session, server)
    found = await client.search_titles("neural machine translation")
    assert [paper.arxiv_id for paper in found] == ["1409.0473", "1508.04025"]
    assert found[1].authors[0] == "Minh-Thang Luong" and found[1].year == 2015
    # The exact title first; words in another order or with small words missing still match.
    assert [p.arxiv_id for p in await client.search_titles("Group Normalization")] == ["1803.08494"]
    assert [p.arxiv_id for p in await client.search_titles("translate and align")] == ["1409.0473"]
    assert await client.search_titles("Reading Group Snacks") == []
    assert len(await client.search_titles("normalization", limit=1)) == 1
    requests = len(server.requests)
    # Again: from the cache. A paper found is known by id too: no look-up request.
    assert await client.search_titles("neural machine translation") == found
    assert await client.lookup("1508.04025") == found[1]
    assert len(server.requests) == requests
    assert all(node is not None for _, node in server.searches)


async def test_title_search_failures_raise(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    client = make_client(session, server, timeout=0.3)
    server.hang_searches = True
    with pytest.raises(ArxivLookupError, match="did not answer"):
        await client.search_titles("Group Normalization")
    server.hang_searches = False
    client.timeout = 5.0
    server.outage_status = 503
    with pytest.raises(ArxivLookupError, match="HTTP 503"):
        await client.search_titles("Group Normalization")
    server.outage_status = None
    assert len(await client.search_titles("Group Normalization")) == 1  # failures not cached


async def test_the_fixture_answers_an_unreadable_query_as_arxiv_does(
    server: ArxivFixtureServer, session: aiohttp.ClientSession
) -> None:
    """arXiv's answer to a query it cannot read: HTTP 400 with its error entry (which the
    client reports as a failure). The client's own queries never get it (above)."""
    for bad in ('ti:"open', "ti:x AND", "(ti:x", "foo:bar", "ti:x and ti:y"):
        async with session.get(server.url, params={"search_query": bad}) as response:
            assert response.status == 400, bad
            with pytest.raises(ArxivLookupError, match="arXiv error"):
                parse_arxiv_response(await response.read())
