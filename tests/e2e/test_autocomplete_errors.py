"""A failing suggestion list is logged with its traceback and the member gets an empty list:
never a silent `suppress(Exception)`, never a dropped autocomplete (issue 8, item 20)."""

from __future__ import annotations

import logging

import pytest

from bot.bot import ShortScienceBot
from tests.emulator import DiscordEmulator


class SuggestionsBroke(RuntimeError):
    pass


async def broken(*_args: object, **_kwargs: object) -> list[object]:
    raise SuggestionsBroke("the title index is gone")


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("/summarize paper:Attent", "paper"),
        ("/reading start paper:Attent", "paper"),
        ("/search query:Attent", "query"),
        ("/paper id:Attent", "id"),
    ],
)
async def test_a_failing_autocomplete_is_logged_and_answers_nothing(
    emulator: DiscordEmulator,
    running_bot: ShortScienceBot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    command: str,
    option: str,
) -> None:
    monkeypatch.setattr(running_bot.search, "autocomplete", broken)
    with caplog.at_level(logging.ERROR):
        handle = await emulator.autocomplete(command, option)
        assert await handle.wait_choices(timeout=3.0) == []
    failures = [r for r in caplog.records if r.exc_info and r.exc_info[0] is SuggestionsBroke]
    assert failures, "the failure was swallowed without a trace"
    assert "Attent" in failures[0].getMessage()
