"""Fixtures shared by the community unit tests."""

from __future__ import annotations

import pytest

from tests.fixtures.arxiv.server import ArxivFixtureServer


@pytest.fixture
def server(arxiv_server: ArxivFixtureServer) -> ArxivFixtureServer:
    """The local arXiv fixture server (tests/conftest.py), running for one test."""
    return arxiv_server
