"""Announcements: the feed poller, the outbox sender, and what announcements look like.

Community summaries are announced with `enqueue_community_announcement` (see its docstring).
"""

from bot.announce.community import ANNOUNCEMENT_ENQUEUED, enqueue_community_announcement

__all__ = ["ANNOUNCEMENT_ENQUEUED", "enqueue_community_announcement"]
