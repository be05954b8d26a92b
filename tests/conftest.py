"""Shared test configuration: whether Discord's API spec is there to validate against, and
the local stand-ins for arXiv and Crossref (bodies sent in many small chunks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.emulator.spec import SPEC_PATH, spec_missing_reason
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.fixtures.crossref.server import CrossrefFixtureServer


def pytest_report_header(config: pytest.Config) -> str:
    reason = spec_missing_reason()
    if reason is None:
        return f"discord-api-spec: validating emulator requests against {SPEC_PATH}"
    return f"discord-api-spec: SKIPPED - {reason}"


@pytest.fixture
async def arxiv_server() -> AsyncIterator[ArxivFixtureServer]:
    """The local arXiv API, running for one test."""
    server = ArxivFixtureServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def crossref_server() -> AsyncIterator[CrossrefFixtureServer]:
    """The local Crossref REST API, running for one test."""
    server = CrossrefFixtureServer()
    await server.start()
    yield server
    await server.close()
