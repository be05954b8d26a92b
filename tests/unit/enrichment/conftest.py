"""Fixtures of the enrichment tests: the local arXiv and Crossref servers, an HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.fixtures.crossref.server import CrossrefFixtureServer


@pytest.fixture
async def arxiv_server() -> AsyncIterator[ArxivFixtureServer]:
    server = ArxivFixtureServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def crossref_server() -> AsyncIterator[CrossrefFixtureServer]:
    server = CrossrefFixtureServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session
