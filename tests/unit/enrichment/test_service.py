"""The enrichment pass against the local arXiv and Crossref servers: batches, filling in,
backoff, giving up, rate limits, and one source failing without stopping the other."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.community.arxiv import ArxivClient, RequestSpacer
from bot.community.resolve import PaperResolver
from bot.enrichment import service
from bot.enrichment.crossref import CrossrefClient
from bot.enrichment.service import MAX_ATTEMPTS, PaperEnricher, next_attempt_delay
from bot.papers import PaperId
from bot.storage import Database
from bot.storage.lookups import LookupQueue
from bot.storage.papers import Paper, PaperRepository
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.fixtures.crossref.server import CrossrefFixtureServer
from tests.unit.community.test_resolve import Clock, resolve

DOI = "10.1038/nature14539"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "enrichment.sqlite3")
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def arxiv_client(session: aiohttp.ClientSession, arxiv_server: ArxivFixtureServer) -> ArxivClient:
    return ArxivClient(
        session, api_url=arxiv_server.url, min_interval=0, timeout=1.5, spacer=RequestSpacer()
    )


@pytest.fixture
def crossref_client(
    session: aiohttp.ClientSession, crossref_server: CrossrefFixtureServer
) -> CrossrefClient:
    return CrossrefClient(session, api_url=crossref_server.url, timeout=5.0, spacer=RequestSpacer())


@pytest.fixture
def enricher(
    db: Database, arxiv_client: ArxivClient, crossref_client: CrossrefClient, clock: Clock
) -> PaperEnricher:
    return PaperEnricher(
        db, arxiv=arxiv_client, crossref=crossref_client, clock=clock, rng=random.Random(1)
    )


async def imported(db: Database, *ids: PaperId, title: str = "", year: int | None = None) -> Paper:
    """A paper as ShortScience's RSS leaves it: identifiers, a title, a year."""
    return await PaperRepository(db).find_or_create(ids, title=title, year=year)


async def test_imported_arxiv_papers_are_filled_in_one_batched_request(
    db: Database, enricher: PaperEnricher, arxiv_server: ArxivFixtureServer
) -> None:
    batch_norm = await imported(
        db,
        PaperId("arxiv", "1502.03167"),
        PaperId("bibtex", "journals/corr/IoffeS15"),
        title="Batch Normalization (as ShortScience titles it)",
        year=2015,
    )
    attention = await imported(db, PaperId("arxiv", "1706.03762"))
    unknown = await imported(db, PaperId("arxiv", "2401.00001"), title="Not on arXiv yet")
    report = await enricher.run_once()
    assert (report.arxiv_filled, report.arxiv_failed) == (2, 1)
    assert [sorted(ids) for _, ids in arxiv_server.requests] == [
        ["1502.03167", "1706.03762", "2401.00001"]
    ]
    filled = await PaperRepository(db).get(batch_norm.id)
    assert filled is not None
    assert filled.title == "Batch Normalization (as ShortScience titles it)"  # kept
    assert filled.authors == "Sergey Ioffe, Christian Szegedy"
    assert filled.abstract is not None and filled.abstract.startswith("Training Deep Neural")
    assert (filled.published, filled.categories) == ("2015-02-11", ("cs.LG",))
    other = await PaperRepository(db).get(attention.id)
    assert other is not None and other.title == "Attention Is All You Need"
    assert other.categories == ("cs.CL", "cs.LG")
    queue = LookupQueue(db, "arxiv")
    assert await queue.status(batch_norm.id) == "resolved"
    assert await queue.status(unknown.id) == "pending"
    # The unknown id waits for its backoff: a second pass asks nothing.
    assert (await enricher.run_once()).arxiv_failed == 0
    assert len(arxiv_server.requests) == 1


async def test_a_backlog_goes_fifty_ids_a_request(
    db: Database, enricher: PaperEnricher, arxiv_server: ArxivFixtureServer
) -> None:
    for number in range(120):
        await imported(db, PaperId("arxiv", f"2301.{number:05d}"), title=f"Paper {number}")
    await imported(db, PaperId("arxiv", "1502.03167"))
    report = await enricher.run_once()
    assert [len(ids) for _, ids in arxiv_server.requests] == [50, 50, 21]
    assert (report.arxiv_filled, report.arxiv_failed) == (1, 120)
    assert not report.more_due


async def test_a_pass_does_a_bounded_share_and_says_more_is_due(
    db: Database,
    enricher: PaperEnricher,
    arxiv_server: ArxivFixtureServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "ARXIV_REQUESTS_PER_PASS", 2)
    for number in range(120):
        await imported(db, PaperId("arxiv", f"2301.{number:05d}"))
    first = await enricher.run_once()
    assert first.more_due and len(arxiv_server.requests) == 2
    second = await enricher.run_once()
    assert not second.more_due and len(arxiv_server.requests) == 3


@pytest.mark.parametrize("fault", ["error", "timeout", "outage", "unknown"])
async def test_a_failed_look_up_is_retried_with_backoff_until_it_works(
    db: Database,
    enricher: PaperEnricher,
    arxiv_client: ArxivClient,
    arxiv_server: ArxivFixtureServer,
    clock: Clock,
    fault: str,
) -> None:
    """What /summarize leaves behind when arXiv fails is filled in by the enrichment loop."""
    arxiv_id = "1706.03762" if fault != "unknown" else "2401.00001"
    if fault == "error":
        arxiv_server.error_ids.add(arxiv_id)
    elif fault == "timeout":
        arxiv_server.hang_ids.add(arxiv_id)
    elif fault == "outage":
        arxiv_server.outage_status = 503
    resolver = PaperResolver(db, arxiv_client, clock=clock)
    resolved = await resolve(resolver, arxiv_id)
    assert resolved.pending and resolved.note and resolved.paper.title == ""
    async with db.transaction() as conn:  # as Publish stores it
        paper_id = await resolver.store(resolved, guild_id=1, conn=conn)
    queue = LookupQueue(db, "arxiv")
    assert await queue.status(paper_id) == "pending"
    # Not due yet: nothing is asked.
    requests_before = len(arxiv_server.requests)
    assert (await enricher.run_once()).arxiv_filled == 0
    assert len(arxiv_server.requests) == requests_before
    # arXiv is back (and, for the unknown id, still does not list it).
    arxiv_server.error_ids.clear()
    arxiv_server.hang_ids.clear()
    arxiv_server.outage_status = None
    arxiv_client._cache.clear()
    clock.now += 3600
    report = await enricher.run_once()
    if fault == "unknown":
        assert report.arxiv_failed == 1
        assert (await queue.due(clock.now + 10**6, limit=1))[0].attempts == 2
        return
    assert report.arxiv_filled == 1
    paper = await PaperRepository(db).get(paper_id)
    assert paper is not None and paper.title == "Attention Is All You Need"
    assert await queue.status(paper.id) == "resolved"


async def test_look_ups_are_given_up_after_many_failures(
    db: Database, enricher: PaperEnricher, arxiv_server: ArxivFixtureServer, clock: Clock
) -> None:
    paper = await imported(db, PaperId("arxiv", "1706.03762"))
    arxiv_server.outage_status = 500
    for _ in range(MAX_ATTEMPTS + 3):
        await enricher.run_once()
        clock.now += 7 * 3600
    assert len(arxiv_server.requests) == MAX_ATTEMPTS
    assert await LookupQueue(db, "arxiv").status(paper.id) == "failed"


def test_retry_delays_grow_and_stop() -> None:
    rng = random.Random(7)
    delays = [next_attempt_delay(n, rng) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays[0] is not None and delays[1] is not None
    assert 30 <= delays[0] <= 60 and 60 <= delays[1] <= 120  # jittered, at least half
    assert max(d for d in delays if d is not None) <= 6 * 3600
    assert delays[-1] is None


async def test_doi_papers_are_filled_from_crossref(
    db: Database, enricher: PaperEnricher, crossref_server: CrossrefFixtureServer
) -> None:
    paper = await imported(db, PaperId("doi", DOI), PaperId("bibtex", DOI), title="Deep learning")
    unknown = await imported(db, PaperId("doi", "10.5555/not-registered"), title="Unknown")
    report = await enricher.run_once()
    assert (report.crossref_filled, report.crossref_failed) == (1, 1)
    filled = await PaperRepository(db).get(paper.id)
    assert filled is not None
    assert filled.authors == "Yann LeCun, Yoshua Bengio, Geoffrey Hinton"
    assert (filled.venue, filled.year, filled.published) == ("Nature", 2015, "2015-05-27")
    assert filled.abstract is not None and filled.abstract.startswith("Deep learning allows")
    queue = LookupQueue(db, "crossref")
    assert await queue.status(paper.id) == "resolved"
    assert await queue.status(unknown.id) == "pending"
    assert sorted(crossref_server.requested_dois) == [DOI, "10.5555/not-registered"]


async def test_crossref_rate_limit_and_outage_leave_the_rest_due(
    db: Database,
    enricher: PaperEnricher,
    crossref_server: CrossrefFixtureServer,
    crossref_client: CrossrefClient,
    clock: Clock,
) -> None:
    papers = [await imported(db, PaperId("doi", f"10.5555/{n}")) for n in range(3)]
    queue = LookupQueue(db, "crossref")
    crossref_server.rate_limited = 1
    report = await enricher.run_once()
    assert report.crossref_paused and report.crossref_failed == 0
    # Rate limited is not a failure of the DOI: no attempt counted, all still due.
    assert [d.attempts for d in await queue.due(clock.now, limit=10)] == [0, 0, 0]
    assert len(crossref_server.requests) == 1
    # While paused nothing is asked.
    await enricher.run_once()
    assert len(crossref_server.requests) == 1
    crossref_client._paused_until = float("-inf")  # Retry-After has passed
    crossref_server.outage_status = 503
    report = await enricher.run_once()
    # The service is failing: the first DOI is rescheduled, the others wait for a later pass.
    assert report.crossref_failed == 1 and len(crossref_server.requests) == 2
    assert [d.paper_id for d in await queue.due(clock.now, limit=10)] == [
        papers[1].id,
        papers[2].id,
    ]


async def test_one_source_failing_does_not_stop_the_other(
    db: Database,
    enricher: PaperEnricher,
    arxiv_client: ArxivClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await imported(db, PaperId("arxiv", "1502.03167"))
    await imported(db, PaperId("doi", DOI))

    async def broken(ids: object) -> dict[str, object]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(arxiv_client, "lookup_many", broken)
    with caplog.at_level(logging.ERROR):
        report = await enricher.run_once()
    assert report.crossref_filled == 1
    assert "Filling in papers from arXiv failed" in caplog.text
    assert "RuntimeError: a bug" in caplog.text
