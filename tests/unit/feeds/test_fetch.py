"""Fetching feeds from the local fault-injecting feed server (no external network)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio

from bot.feeds import fetch_feed, parse_feed
from bot.feeds.fetch import USER_AGENT
from tests.feedserver import FeedServer, feed_server

__all__ = ["feed_server"]  # the fixture, imported for the tests below

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "feeds"


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_ok_with_validators_cache_and_hash(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    url = feed_server.url("/fixtures/shortscience.xml")
    result = await fetch_feed(session, url)
    body = (FIXTURES / "shortscience.xml").read_bytes()
    assert result.ok and result.outcome == "ok" and result.status == 200
    assert result.body == body
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    assert result.etag is not None and result.etag.startswith('"')
    assert result.last_modified == "Mon, 22 Jan 2024 05:00:00 GMT"
    assert result.max_age == 300
    assert result.content_type == "application/xml"
    assert result.headers["content-type"] == "application/xml"
    assert result.final_url == url and result.permanent_redirect_url is None
    assert result.error_kind is None and result.error_message is None
    sent = feed_server.last_headers["/fixtures/shortscience.xml"]
    assert sent["User-Agent"] == USER_AGENT
    assert "gzip" in sent["Accept-Encoding"]
    assert parse_feed(result.body, url=result.final_url, headers=result.headers).is_feed


async def test_conditional_get_with_etag(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    url = feed_server.url("/fixtures/shortscience.xml")
    first = await fetch_feed(session, url)
    second = await fetch_feed(session, url, etag=first.etag)
    assert second.not_modified and second.outcome == "not_modified"
    assert second.status == 304 and second.body == b"" and second.sha256 is None
    assert second.etag == first.etag
    assert feed_server.last_headers["/fixtures/shortscience.xml"]["If-None-Match"] == first.etag


async def test_conditional_get_with_last_modified(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    url = feed_server.url("/fixtures/shortscience.xml")
    first = await fetch_feed(session, url)
    second = await fetch_feed(session, url, last_modified=first.last_modified)
    assert second.not_modified
    assert second.last_modified == first.last_modified


async def test_changing_feed_between_requests(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    v1 = (FIXTURES / "shortscience.xml").read_bytes()
    v2 = (FIXTURES / "shortscience_v2.xml").read_bytes()
    url = feed_server.set_feed("ss", v1)
    first = await fetch_feed(session, url)
    assert first.ok and len(parse_feed(first.body).entries) == 5
    unchanged = await fetch_feed(session, url, etag=first.etag, last_modified=first.last_modified)
    assert unchanged.not_modified
    feed_server.set_feed("ss", v2)
    changed = await fetch_feed(session, url, etag=first.etag, last_modified=first.last_modified)
    assert changed.ok and changed.sha256 != first.sha256 and changed.etag != first.etag
    assert len(parse_feed(changed.body).entries) == 6
    assert feed_server.requests["/dynamic/ss"] == 3


async def test_cache_control_max_age(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    result = await fetch_feed(session, feed_server.url("/cache/900"))
    assert result.ok and result.max_age == 900


@pytest.mark.parametrize("code", [301, 308])
async def test_permanent_redirect_is_reported(
    feed_server: FeedServer, session: aiohttp.ClientSession, code: int
) -> None:
    result = await fetch_feed(
        session, feed_server.url(f"/redirect/{code}/fixtures/shortscience.xml")
    )
    target = feed_server.url("/fixtures/shortscience.xml")
    assert result.ok
    assert result.final_url == target
    assert result.permanent_redirect_url == target


@pytest.mark.parametrize("code", [302, 303, 307])
async def test_temporary_redirect_is_followed_without_update(
    feed_server: FeedServer, session: aiohttp.ClientSession, code: int
) -> None:
    result = await fetch_feed(
        session, feed_server.url(f"/redirect-absolute/{code}/fixtures/shortscience.xml")
    )
    assert result.ok
    assert result.final_url == feed_server.url("/fixtures/shortscience.xml")
    assert result.permanent_redirect_url is None


async def test_permanent_then_temporary_redirect_stores_the_permanent_hop(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    url = feed_server.url("/redirect/301/redirect/302/fixtures/shortscience.xml")
    result = await fetch_feed(session, url)
    assert result.ok
    assert result.permanent_redirect_url == feed_server.url(
        "/redirect/302/fixtures/shortscience.xml"
    )
    assert result.final_url == feed_server.url("/fixtures/shortscience.xml")


async def test_conditional_get_survives_a_redirect(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    first = await fetch_feed(session, feed_server.url("/fixtures/shortscience.xml"))
    second = await fetch_feed(
        session, feed_server.url("/redirect/301/fixtures/shortscience.xml"), etag=first.etag
    )
    assert second.not_modified
    assert second.permanent_redirect_url == feed_server.url("/fixtures/shortscience.xml")


async def test_redirect_loop(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    result = await fetch_feed(session, feed_server.url("/loop/a"))
    assert result.outcome == "error" and result.error_kind == "redirect_loop"
    assert "redirect loop" in (result.error_message or "")
    assert feed_server.requests["/loop/a"] == 1 and feed_server.requests["/loop/b"] == 1


async def test_too_many_redirects(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    result = await fetch_feed(session, feed_server.url("/chain/10"), max_redirects=5)
    assert result.error_kind == "too_many_redirects"
    assert result.error_message == "more than 5 redirects"
    ok = await fetch_feed(session, feed_server.url("/chain/5"), max_redirects=5)
    assert ok.ok


async def test_redirect_without_location_or_to_another_scheme(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    missing = await fetch_feed(session, feed_server.url("/redirect-no-location"))
    assert missing.error_kind == "bad_redirect" and missing.status == 302
    ftp = await fetch_feed(session, feed_server.url("/redirect-ftp"))
    assert ftp.error_kind == "bad_redirect"
    assert "ftp://" in (ftp.error_message or "")


@pytest.mark.parametrize("code", [404, 500])
async def test_http_errors(
    feed_server: FeedServer, session: aiohttp.ClientSession, code: int
) -> None:
    result = await fetch_feed(session, feed_server.url(f"/status/{code}"))
    assert result.outcome == "error" and not result.ok
    assert result.error_kind == "http_status" and result.status == code
    assert (result.error_message or "").startswith(f"HTTP {code}")


async def test_retry_after(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    result = await fetch_feed(session, feed_server.url("/status/429"))
    assert result.status == 429 and result.retry_after == 120


async def test_gone(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    result = await fetch_feed(session, feed_server.url("/status/410"))
    assert result.gone and result.outcome == "gone" and result.status == 410
    assert "410" in (result.error_message or "")


async def test_total_timeout(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    result = await fetch_feed(session, feed_server.url("/hang"), total_timeout=0.3)
    assert result.error_kind == "timeout"
    assert result.error_message == "no complete answer within 0.3 s"
    assert result.elapsed < feed_server.hang_seconds


async def test_timeout_while_reading_the_body(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    result = await fetch_feed(session, feed_server.url("/slow-body"), total_timeout=0.3)
    assert result.error_kind == "timeout"


async def test_connection_refused(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    port = feed_server.port
    await feed_server.close()
    result = await fetch_feed(session, f"http://127.0.0.1:{port}/fixtures/shortscience.xml")
    assert result.error_kind == "connection"
    assert "could not connect" in (result.error_message or "")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/feed", "not a url", "http://", "http://[::1/feed", "http://a.b:99999/"],
)
async def test_invalid_urls(session: aiohttp.ClientSession, url: str) -> None:
    result = await fetch_feed(session, url)
    assert result.error_kind == "invalid_url"


MALFORMED_HOSTS = ["a..b", ".invalid", "a" * 1990, "x" * 64 + ".example", "exa mple.com", "xn--a"]


@pytest.mark.parametrize("host", MALFORMED_HOSTS)
async def test_malformed_host_names_are_an_invalid_url_never_an_exception(
    session: aiohttp.ClientSession, host: str
) -> None:
    result = await fetch_feed(session, f"http://{host}/feed.xml")
    assert result.outcome == "error" and result.error_kind == "invalid_url"
    assert "host name" in (result.error_message or "")
    assert len(result.error_message or "") <= 300


@pytest.mark.parametrize("host", MALFORMED_HOSTS[:3])
async def test_a_redirect_to_a_malformed_host_name_is_refused_as_an_invalid_url(
    feed_server: FeedServer, session: aiohttp.ClientSession, host: str
) -> None:
    url = feed_server.url("/redirect-to?location=" + quote(f"http://{host}/feed.xml"))
    result = await fetch_feed(session, url)
    assert result.outcome == "error" and result.error_kind == "invalid_url"
    assert "host name" in (result.error_message or "")
    assert result.final_url == f"http://{host}/feed.xml"


async def test_a_redirect_to_an_unparseable_url_is_a_bad_redirect(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    result = await fetch_feed(session, feed_server.url("/redirect-to?location=http://[::1/x"))
    assert result.outcome == "error" and result.error_kind == "bad_redirect"
    assert "invalid URL" in (result.error_message or "")


async def test_streamed_body_over_the_cap(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    result = await fetch_feed(session, feed_server.url("/big"), max_bytes=1024 * 1024)
    assert result.error_kind == "too_large"
    assert "1.0 MiB" in (result.error_message or "")


async def test_declared_length_over_the_cap(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    result = await fetch_feed(session, feed_server.url("/big-declared"))
    assert result.error_kind == "too_large"
    assert "6.0 MiB" in (result.error_message or "")


async def test_default_cap_refuses_6_mib(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    result = await fetch_feed(session, feed_server.url("/big"))
    assert result.error_kind == "too_large"


@pytest.mark.parametrize("route", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_bodies_are_decoded(
    feed_server: FeedServer, session: aiohttp.ClientSession, route: str
) -> None:
    result = await fetch_feed(session, feed_server.url(f"/{route}/shortscience.xml"))
    assert result.ok
    assert result.body == (FIXTURES / "shortscience.xml").read_bytes()


async def test_gzip_bomb_is_refused(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    result = await fetch_feed(session, feed_server.url("/gzip-bomb"))
    assert result.error_kind == "too_large"
    assert "decompresses to over the 5.0 MiB limit" in (result.error_message or "")


async def test_decompressed_cap_is_exact(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    size = len((FIXTURES / "shortscience.xml").read_bytes())
    url = feed_server.url("/gzip/shortscience.xml")
    assert (await fetch_feed(session, url, max_bytes=size)).ok
    assert (await fetch_feed(session, url, max_bytes=size - 1)).error_kind == "too_large"


async def test_broken_and_unsupported_encodings(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    broken = await fetch_feed(session, feed_server.url("/broken-gzip"))
    assert broken.error_kind == "decoding"
    brotli = await fetch_feed(session, feed_server.url("/brotli"))
    assert brotli.error_kind == "decoding" and "'br'" in (brotli.error_message or "")


async def test_empty_body(feed_server: FeedServer, session: aiohttp.ClientSession) -> None:
    result = await fetch_feed(session, feed_server.url("/empty"))
    assert result.ok and result.body == b""
    assert parse_feed(result.body).error == "the body is empty"


async def test_broken_xml_html_and_non_utf8_over_http(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    broken = await fetch_feed(session, feed_server.url("/fixtures/broken.xml"))
    assert parse_feed(broken.body, headers=broken.headers).is_feed
    page_url = feed_server.url("/fixtures/page.html")
    page = await fetch_feed(session, page_url)
    parsed = parse_feed(page.body, url=page.final_url, headers=page.headers)
    assert not parsed.is_feed
    assert parsed.discovered_feeds[0].url == feed_server.url("/rss.xml")
    latin = await fetch_feed(session, feed_server.url("/fixtures/latin1.xml"))
    assert parse_feed(latin.body, headers=latin.headers).title == "Café Scientifique"


async def test_requests_are_counted_per_path(
    feed_server: FeedServer, session: aiohttp.ClientSession
) -> None:
    url = feed_server.url("/fixtures/rss20.xml")
    for _ in range(3):
        await fetch_feed(session, url)
    assert feed_server.requests["/fixtures/rss20.xml"] == 3
    assert feed_server.requests["/fixtures/atom10.xml"] == 0
