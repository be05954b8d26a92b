"""pytest plugin exposing the `feed_server` fixture: add to tests/conftest.py

pytest_plugins = ["tests.feedserver.plugin"]
"""

from tests.feedserver import FeedServer, feed_server

__all__ = ["FeedServer", "feed_server"]
