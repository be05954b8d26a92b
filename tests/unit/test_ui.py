"""`bot.ui`: what lets any process answer a control or a form, and the timers that tidy
controls away."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest

from bot.ui import (
    Controls,
    ControlTimers,
    StaticModal,
    control_button,
    message_owner_id,
    modal_match,
    selected_values,
    submitted_values,
)


def interaction(**fields: Any) -> discord.Interaction:
    return cast(discord.Interaction, SimpleNamespace(**fields))


def test_submitted_values_read_rows_and_labels() -> None:
    data = {
        "custom_id": "ss:form:new",
        "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "paper", "value": "1502.03167"}]},
            {"type": 18, "id": 3, "component": {"type": 4, "custom_id": "tldr", "value": "Short"}},
            {"type": 1, "components": [{"type": 4, "custom_id": "body", "value": None}]},
            {"type": 10, "id": 4},
        ],
    }
    submitted = interaction(type=discord.InteractionType.modal_submit, data=data)
    assert submitted_values(submitted) == {"paper": "1502.03167", "tldr": "Short", "body": ""}
    form = re.compile(r"ss:form:(?P<state>new|[A-Za-z0-9_-]{16})")
    match = modal_match(submitted, form)
    assert match is not None and match["state"] == "new"
    assert modal_match(interaction(type=discord.InteractionType.component, data=data), form) is None
    other = interaction(type=discord.InteractionType.modal_submit, data={"custom_id": "x"})
    assert modal_match(other, form) is None


def test_selected_values_and_the_message_owner() -> None:
    chosen = interaction(data={"custom_id": "m", "values": ["12", "13"]}, message=None)
    assert selected_values(chosen) == ["12", "13"] and message_owner_id(chosen) is None
    made_for = SimpleNamespace(interaction_metadata=SimpleNamespace(user=SimpleNamespace(id=42)))
    assert message_owner_id(interaction(message=made_for)) == 42
    announcement = SimpleNamespace(interaction_metadata=None)
    assert message_owner_id(interaction(message=announcement)) is None


async def test_controls_are_kept_by_nobody_and_leave_their_links() -> None:
    controls = Controls(
        control_button("Next", "ss:mine:1:next"),
        discord.ui.Button(label="arXiv", url="https://arxiv.org/abs/1502.03167"),
    )
    modal = StaticModal(title="Form", custom_id="ss:form:new")
    # discord.py stores (and dispatches to) only views and modals that are not finished.
    assert controls.is_finished() and modal.is_finished()
    links = controls.links_only()
    assert links is not None and [item.url for item in links.children] == [  # type: ignore[attr-defined]
        "https://arxiv.org/abs/1502.03167"
    ]
    assert Controls(control_button("Next", "x")).links_only() is None


async def test_timers_fire_once_restart_on_use_and_stop_on_close() -> None:
    timers = ControlTimers()
    fired: list[str] = []

    def recorder(name: str) -> Any:
        async def expire() -> None:
            fired.append(name)

        return expire

    timers.arm(1, 0.05, recorder("first"))
    timers.arm(1, 0.15, recorder("again"))  # used meanwhile: the earlier timer goes
    timers.arm(2, None, recorder("never"))
    await asyncio.sleep(0.3)
    assert fired == ["again"]

    async def refused() -> None:
        raise discord.NotFound(SimpleNamespace(status=404, reason="Not Found"), "gone")

    timers.arm(3, 0.01, refused)  # the message is gone: logged, nothing raised
    timers.arm(4, 0.05, recorder("closed"))
    await asyncio.sleep(0.03)
    timers.close()
    await asyncio.sleep(0.1)
    assert fired == ["again"]


@pytest.mark.parametrize("custom_id", ["ss:sv:1:2:i:next", "ss:list:" + "A" * 16 + ":0:prev"])
def test_control_buttons_carry_their_custom_id(custom_id: str) -> None:
    button = control_button("Go", custom_id, disabled=True)
    assert button.custom_id == custom_id and button.disabled
