"""Fixtures shared by the community unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.arxiv.server import ArxivFixtureServer


@pytest.fixture
async def server() -> AsyncIterator[ArxivFixtureServer]:
    """The local arXiv fixture server, running for one test."""
    fixture_server = ArxivFixtureServer()
    await fixture_server.start()
    yield fixture_server
    await fixture_server.close()
