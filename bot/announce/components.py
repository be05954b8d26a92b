"""The buttons under the messages the outbox sends, by custom_id.

- **Read** (`ss:read:<summary id>[:<marker>]`) under every summary announcement and card:
  the whole summary, paged, privately for whoever clicks.
- 👍 / 👎 (`ss:vote:<summary id>:up|down`) under community summaries, with their counts.
- **Latest summaries** (`ss:latest[:<marker>]`) under an "…and N more" line.
- **Resume feed** (`ss:resume:<subscription id>[:<marker>]`) under a paused-feed notice.

The cogs answer them with `discord.ui.DynamicItem`s built on the templates below (registered
with `bot.add_dynamic_items`), so they work on any message that carries them, after a
restart too. Views built here count as finished (`StaticButtons`): nothing is kept in memory
per message sent, the dynamic items do the dispatching.

The marker is the outbox row's nonce. It makes each message the sender posts recognisable in
the channel's history, so a row whose fate is unknown after a crash can be found there
instead of being posted twice (see `bot.announce.sender`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import discord

# An outbox nonce: lower-case letters and digits, at most 25 (Discord's nonce limit).
MARKER: Final = r"[0-9a-z]{1,25}"
READ_TEMPLATE: Final = rf"ss:read:(?P<summary_id>[0-9]{{1,19}})(?::(?P<marker>{MARKER}))?"
VOTE_TEMPLATE: Final = r"ss:vote:(?P<summary_id>[0-9]{1,19}):(?P<direction>up|down)"
LATEST_TEMPLATE: Final = rf"ss:latest(?::(?P<marker>{MARKER}))?"
RESUME_TEMPLATE: Final = rf"ss:resume:(?P<subscription_id>[0-9]{{1,19}})(?::(?P<marker>{MARKER}))?"
_MARKED_TEMPLATES: Final = tuple(
    re.compile(template) for template in (READ_TEMPLATE, LATEST_TEMPLATE, RESUME_TEMPLATE)
)

READ_LABEL: Final = "Read"
LATEST_LABEL: Final = "Latest summaries"
RESUME_LABEL: Final = "Resume feed"


def _with_marker(custom_id: str, marker: str | None) -> str:
    return custom_id if marker is None else f"{custom_id}:{marker}"


def read_custom_id(summary_id: int, marker: str | None = None) -> str:
    return _with_marker(f"ss:read:{summary_id}", marker)


def vote_custom_id(summary_id: int, direction: str) -> str:
    return f"ss:vote:{summary_id}:{direction}"


def latest_custom_id(marker: str | None = None) -> str:
    return _with_marker("ss:latest", marker)


def resume_custom_id(subscription_id: int, marker: str | None = None) -> str:
    return _with_marker(f"ss:resume:{subscription_id}", marker)


class StaticButtons(discord.ui.View):
    """Buttons to send, never listened to: discord.py keeps no view per message sent with
    it (a stopped view, even when built off the event loop); dynamic items answer clicks."""

    def __init__(self, *buttons: discord.ui.Button[Any]) -> None:
        super().__init__(timeout=None)
        for button in buttons:
            self.add_item(button)

    def is_finished(self) -> bool:
        return True


def read_button(summary_id: int, marker: str | None = None) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        style=discord.ButtonStyle.primary,
        label=READ_LABEL,
        emoji="📖",
        custom_id=read_custom_id(summary_id, marker),
    )


def vote_button(summary_id: int, direction: str, count: int) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        style=discord.ButtonStyle.secondary,
        emoji="👍" if direction == "up" else "👎",
        label=str(count),
        custom_id=vote_custom_id(summary_id, direction),
    )


def summary_buttons(
    summary_id: int, *, marker: str | None = None, votes: tuple[int, int] | None = None
) -> discord.ui.View:
    """Read, then 👍 / 👎 with their counts when `votes` is given (community summaries)."""
    buttons = [read_button(summary_id, marker)]
    if votes is not None:
        buttons += [
            vote_button(summary_id, "up", votes[0]),
            vote_button(summary_id, "down", votes[1]),
        ]
    return StaticButtons(*buttons)


def latest_button(marker: str | None = None) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        style=discord.ButtonStyle.secondary,
        label=LATEST_LABEL,
        emoji="🗞️",
        custom_id=latest_custom_id(marker),
    )


def resume_button(subscription_id: int, marker: str | None = None) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        style=discord.ButtonStyle.secondary,
        label=RESUME_LABEL,
        emoji="▶️",
        custom_id=resume_custom_id(subscription_id, marker),
    )


def latest_buttons(marker: str | None = None) -> discord.ui.View:
    return StaticButtons(latest_button(marker))


def resume_buttons(subscription_id: int, marker: str | None = None) -> discord.ui.View:
    return StaticButtons(resume_button(subscription_id, marker))


def custom_ids(components: Iterable[Any]) -> Iterable[str]:
    """Every custom_id in a message's components (discord.py objects or raw JSON dicts)."""
    for component in components:
        if isinstance(component, dict):
            if isinstance(component.get("custom_id"), str):
                yield component["custom_id"]
            yield from custom_ids(component.get("components") or [])
            continue
        custom_id = getattr(component, "custom_id", None)
        if isinstance(custom_id, str):
            yield custom_id
        yield from custom_ids(getattr(component, "children", None) or [])


def marker_of(components: Iterable[Any]) -> str | None:
    """The outbox marker a message carries in its buttons, if any."""
    for custom_id in custom_ids(components):
        for template in _MARKED_TEMPLATES:
            match = template.fullmatch(custom_id)
            if match is not None and match["marker"]:
                return match["marker"]
    return None
