"""The Crossref client against the local fixture server: parsing, politeness, spacing, faults."""

from __future__ import annotations

import json

import aiohttp
import pytest

from bot.community.arxiv import RequestSpacer
from bot.enrichment.crossref import (
    CrossrefClient,
    CrossrefLookupError,
    CrossrefRateLimited,
    crossref_user_agent,
    parse_crossref_work,
    parse_rate_limit,
)
from tests.fixtures.chunked import chunk_size
from tests.fixtures.crossref.server import WORKS, CrossrefFixtureServer

DOI = "10.1038/nature14539"
NATURE = (WORKS / "10.1038_nature14539.json").read_bytes()


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_client(
    session: aiohttp.ClientSession, server: CrossrefFixtureServer, **kwargs: object
) -> CrossrefClient:
    options: dict[str, object] = {"spacer": RequestSpacer(), "timeout": 5.0}
    options.update(kwargs)
    return CrossrefClient(session, api_url=server.url, **options)  # type: ignore[arg-type]


def test_parse_a_work_record() -> None:
    work = parse_crossref_work(NATURE, DOI)
    assert work.title == "Deep learning"
    assert work.authors == ("Yann LeCun", "Yoshua Bengio", "Geoffrey Hinton")
    assert work.venue == "Nature"
    assert work.published == "2015-05-27" and work.year == 2015
    assert work.abstract is not None
    assert work.abstract.startswith("Deep learning allows computational models")  # no heading
    details = work.details
    assert details.authors == "Yann LeCun, Yoshua Bengio, Geoffrey Hinton"
    assert [paper_id.canonical_key for paper_id in details.ids] == [f"doi:{DOI}"]


def test_parse_markup_partial_dates_and_organisations() -> None:
    record = {
        "message-type": "work",
        "message": {
            "title": ["The <i>E. coli</i> genome in <jats:sub>2</jats:sub> parts"],
            "author": [{"name": "The ATLAS Collaboration"}, {"family": "Curie", "given": "M."}],
            "published": {"date-parts": [[None]]},
            "issued": {"date-parts": [[2015, 5]]},
            "abstract": "<jats:p>First.</jats:p><jats:p>Second   paragraph.</jats:p>",
        },
    }
    work = parse_crossref_work(json.dumps(record).encode(), "10.1/x")
    assert work.title == "The E. coli genome in 2 parts"
    assert work.authors == ("The ATLAS Collaboration", "M. Curie")
    assert work.published == "2015-05" and work.venue is None
    assert work.abstract == "First.\n\nSecond paragraph."
    for bad in (b"<html>busy</html>", b'{"message-type": "work-list", "message": {}}', b"[]"):
        with pytest.raises(CrossrefLookupError):
            parse_crossref_work(bad, "10.1/x")


def test_rate_limit_headers() -> None:
    assert parse_rate_limit({"x-rate-limit-limit": "50", "x-rate-limit-interval": "1s"}) == 0.02
    assert parse_rate_limit({"x-rate-limit-limit": "3000", "x-rate-limit-interval": "60s"}) == 0.02
    assert parse_rate_limit({"x-rate-limit-limit": "5"}) is None
    assert parse_rate_limit({"x-rate-limit-limit": "x", "x-rate-limit-interval": "1s"}) is None
    assert parse_rate_limit({"x-rate-limit-limit": "0", "x-rate-limit-interval": "1s"}) is None


async def test_lookup_reads_a_chunked_body_whole_and_identifies_itself(
    crossref_server: CrossrefFixtureServer, session: aiohttp.ClientSession
) -> None:
    assert len(NATURE) // chunk_size(len(NATURE)) >= 8  # sent in many chunks
    client = make_client(session, crossref_server, mailto="bot-admin@example.org")
    work = await client.lookup(DOI)
    assert work is not None and work.authors[0] == "Yann LeCun"
    assert work.abstract is not None and work.abstract.endswith("such as text and speech.")
    [request] = crossref_server.requests
    assert request.doi == DOI
    # The polite pool: the contact address in the parameter and in the User-Agent.
    assert request.mailto == "bot-admin@example.org"
    assert request.user_agent == crossref_user_agent("bot-admin@example.org")
    assert "mailto:bot-admin@example.org" in request.user_agent
    # Without an address nothing is sent for it.
    await make_client(session, crossref_server).lookup(DOI)
    assert crossref_server.requests[-1].mailto is None
    assert "mailto" not in crossref_server.requests[-1].user_agent


async def test_unknown_doi_is_none_and_odd_characters_are_escaped(
    crossref_server: CrossrefFixtureServer, session: aiohttp.ClientSession
) -> None:
    client = make_client(session, crossref_server)
    odd = "10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-0#x?y"
    assert await client.lookup(odd) is None
    assert crossref_server.requested_dois == [odd]


async def test_requests_are_spaced_as_the_headers_say(
    crossref_server: CrossrefFixtureServer, session: aiohttp.ClientSession
) -> None:
    """Clock frozen: the spacer's sleeps show the interval in force for each request."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    crossref_server.rate_limit = (2, "1s")
    client = make_client(
        session, crossref_server, spacer=RequestSpacer(clock=lambda: 50.0, sleep=fake_sleep)
    )
    for _ in range(3):
        await client.lookup(DOI)
    # The first request goes at once; Crossref's answer says 2 a second: 0.5 s apart after.
    assert slept == [1.0, 1.5]
    assert client.request_interval == 0.5
    crossref_server.rate_limit = (1000, "1s")
    await client.lookup(DOI)
    assert client.request_interval == 0.1  # never faster than MIN_REQUEST_INTERVAL


async def test_a_429_pauses_every_request_until_retry_after(
    crossref_server: CrossrefFixtureServer, session: aiohttp.ClientSession
) -> None:
    clock = Clock()
    client = make_client(session, crossref_server, clock=clock)
    crossref_server.rate_limited = 1
    with pytest.raises(CrossrefRateLimited) as raised:
        await client.lookup(DOI)
    assert raised.value.retry_after == 2.0
    # Paused: not even asked.
    with pytest.raises(CrossrefRateLimited):
        await client.lookup(DOI)
    assert len(crossref_server.requests) == 1
    clock.now += 2.5
    assert client.paused_for() == 0
    assert await client.lookup(DOI) is not None
    # Without a Retry-After the pause is a minute.
    crossref_server.rate_limited, crossref_server.retry_after = 1, None
    with pytest.raises(CrossrefRateLimited, match="60 s"):
        await client.lookup(DOI)


async def test_outage_timeout_and_size_cap_fail_cleanly(
    crossref_server: CrossrefFixtureServer, session: aiohttp.ClientSession
) -> None:
    crossref_server.outage_status = 503
    with pytest.raises(CrossrefLookupError, match="HTTP 503") as raised:
        await make_client(session, crossref_server).lookup(DOI)
    assert raised.value.service_trouble
    crossref_server.outage_status = 400
    with pytest.raises(CrossrefLookupError, match="HTTP 400") as raised:
        await make_client(session, crossref_server).lookup(DOI)
    assert not raised.value.service_trouble
    crossref_server.outage_status = None
    crossref_server.hang_dois.add(DOI)
    with pytest.raises(CrossrefLookupError, match="did not answer") as raised:
        await make_client(session, crossref_server, timeout=0.3).lookup(DOI)
    assert raised.value.service_trouble
    crossref_server.hang_dois.clear()
    with pytest.raises(CrossrefLookupError, match="larger than 1000 bytes"):
        await make_client(session, crossref_server, max_body_bytes=1000).lookup(DOI)
