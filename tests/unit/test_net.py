"""Outgoing requests from the bot never reach private or local addresses (unless allowed)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.feeds.fetch import fetch_feed
from bot.net import (
    PublicAddressResolver,
    ResponseTooLarge,
    is_public_address,
    public_only_session_options,
    read_body,
)
from tests.fixtures.chunked import LocalService, send_in_chunks


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("224.0.0.1", False),
        ("not an address", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    ("address", "public"),
    [
        # NAT64, well-known prefix (RFC 6052): the IPv4 address is the last 32 bits.
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a9fe:a9fe", False),  # 169.254.169.254 through the gateway
        ("64:ff9b::808:808", True),  # 8.8.8.8: what DNS64 gives for a public IPv4-only host
        # NAT64, local-use prefix (RFC 8215): whatever the operator's network translates.
        ("64:ff9b:1::a00:1", False),
        ("64:ff9b:1::808:808", False),
        # 6to4 (RFC 3056): the IPv4 address is bits 16-48.
        ("2002:7f00:1::1", False),
        ("2002:a00:1::", False),
        ("2002:808:808::1", True),
        # IPv4-compatible (deprecated): the last 32 bits.
        ("::7f00:1", False),
        ("::a00:1", False),
        # IPv4-mapped, written in hex.
        ("::ffff:a9fe:a9fe", False),
        # Teredo (RFC 4380): server and (obfuscated) client IPv4 addresses.
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # client 127.0.0.1
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", False),  # server 10.0.0.1
    ],
)
def test_ipv6_addresses_embedding_an_ipv4_address_are_judged_by_it(
    address: str, public: bool
) -> None:
    assert is_public_address(address) is public


class FixedResolver(AbstractResolver):
    """Answers every name with the given addresses, like a (possibly hostile) DNS server."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in self.addresses
        ]

    async def close(self) -> None:
        return None


async def test_resolver_keeps_only_public_addresses() -> None:
    mixed = PublicAddressResolver(FixedResolver("10.0.0.5", "93.184.216.34"))
    assert [r["host"] for r in await mixed.resolve("example.org", 80)] == ["93.184.216.34"]
    private = PublicAddressResolver(FixedResolver("127.0.0.1"))
    with pytest.raises(aiohttp.ClientConnectionError, match="private or local"):
        await private.resolve("rebind.example", 80)


@pytest.fixture
async def local_feed():
    async def feed(_: web.Request) -> web.Response:
        return web.Response(body=b"<rss version='2.0'><channel><title>t</title></channel></rss>")

    app = web.Application()
    app.router.add_get("/feed.xml", feed)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    yield port
    await runner.cleanup()


async def test_feed_fetch_refuses_private_addresses(local_feed: int) -> None:
    async with aiohttp.ClientSession(**public_only_session_options()) as session:
        literal = await fetch_feed(session, f"http://127.0.0.1:{local_feed}/feed.xml")
        assert not literal.ok
        assert "private or local" in (literal.error_message or "")
        named = await fetch_feed(session, f"http://localhost:{local_feed}/feed.xml")
        assert not named.ok
        assert "private or local" in (named.error_message or "")
    async with aiohttp.ClientSession() as unrestricted:  # ALLOW_PRIVATE_URLS=true
        allowed = await fetch_feed(unrestricted, f"http://127.0.0.1:{local_feed}/feed.xml")
        assert allowed.ok


CHUNKED_BODY = (
    b"<rss version='2.0'><channel><title>chunked</title>"
    + b"<!-- x -->" * 400
    + b"</channel></rss>"
)


@pytest.fixture
async def chunked_server() -> AsyncIterator[str]:
    """Serves CHUNKED_BODY in many small, separately flushed chunks."""

    async def body(request: web.Request) -> web.StreamResponse:
        return await send_in_chunks(request, CHUNKED_BODY, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/body", body)
    service = LocalService()
    yield f"http://127.0.0.1:{await service.serve(app)}/body"
    await service.close()


async def test_read_body_reads_a_body_sent_in_many_chunks_whole(chunked_server: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(chunked_server) as response:
            assert await read_body(response, len(CHUNKED_BODY)) == CHUNKED_BODY
        async with session.get(chunked_server) as response:
            with pytest.raises(ResponseTooLarge, match="larger than 1000 bytes"):
                await read_body(response, 1000)


async def test_feed_fetch_reads_a_body_sent_in_many_chunks_whole(chunked_server: str) -> None:
    """bot/feeds/fetch.py always read to the end of the stream (iter_chunked); it now shares
    `iter_body` with the arXiv and Crossref clients."""
    async with aiohttp.ClientSession() as session:
        result = await fetch_feed(session, chunked_server)
        assert result.ok and result.body == CHUNKED_BODY
        capped = await fetch_feed(session, chunked_server, max_bytes=1024)
        assert capped.error_kind == "too_large"
