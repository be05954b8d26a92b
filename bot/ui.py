"""Controls that work whichever bot process receives the click, and one error path.

Several bot processes may serve one bot (shards; a restart; a failover): a click or a form
reaches whichever process runs the guild's shard at that moment, not necessarily the one
that sent the message. So nothing a click needs lives in a process's memory:

- Messages are sent with `Controls`, plain components that discord.py keeps nothing for.
  Their custom_ids carry what the click needs (ids, a page, a flag) or the random id of a
  state row in the database (`bot.storage.interactions`); a `Control` subclass (a discord.py
  `DynamicItem`, registered by its cog at load time) answers every custom_id its template
  matches, in any process.
- Forms are `StaticModal`s: their submissions are routed by custom_id (`modal_match`,
  `submitted_values`) by a listener of the cog, in any process.
- Who may click comes from trusted data: the state row's owner, or the member the message
  was made for (`message_owner_id`: Discord's record of the interaction that created it).
- Controls still go after a while without use (`ControlTimers`): the process that last
  answered on a message tidies it. Should that process be gone, a later click is answered
  all the same (a read-only page just works; an expired state says so, and hands a
  member's text back).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

import discord
from discord.utils import MISSING

from bot.errors import UserFacingError, report_interaction_error
from bot.storage.interactions import InteractionState, InteractionStateRepository

log = logging.getLogger(__name__)

T = TypeVar("T")

NOT_YOURS: Final = (
    "These controls belong to the person who ran the command; run it yourself to get your own."
)


class BaseModal(discord.ui.Modal):
    """A modal whose errors go through the central handler."""

    # discord.py's Modal.on_error itself drops the `item` argument of BaseView.on_error.
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_interaction_error(interaction, error)


async def within_deadline(
    interaction: discord.Interaction,
    work: Awaitable[T],
    *,
    patience: float,
    update: bool = False,
    ephemeral: bool = False,
) -> T:
    """Await `work`; when it takes longer than `patience` seconds, acknowledge the
    interaction first (Discord drops answers after 3 s): "thinking" for a new reply (private
    with `ephemeral`: the reply that replaces it keeps its visibility), a deferred update for
    a component that edits its message (`update`)."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=patience)
    if not done and not interaction.response.is_done():
        if update:
            await interaction.response.defer()
        else:
            await interaction.response.defer(thinking=True, ephemeral=ephemeral)
    return await task


# A state written before the first answer normally takes milliseconds; when the database is
# busy, the interaction is acknowledged after this long instead (Discord allows 3 s).
QUICK_WRITE: Final = 0.5

SentMessage = discord.InteractionMessage | discord.WebhookMessage


async def reply(
    interaction: discord.Interaction,
    *,
    content: str | None = None,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    ephemeral: bool = False,
    files: Sequence[discord.File] = (),
    allowed_mentions: discord.AllowedMentions = MISSING,
) -> SentMessage:
    """Send the interaction's answer, whether or not it was deferred; returns the message
    (to edit it later, through the interaction's token).

    After a "thinking" defer the answer replaces the placeholder, whose visibility was fixed
    when deferring; after a deferred update it comes as a follow-up."""
    if interaction.response.is_done():
        return await interaction.followup.send(
            content=content or MISSING,
            embed=MISSING if embed is None else embed,
            view=MISSING if view is None else view,
            ephemeral=ephemeral,
            files=list(files) or MISSING,
            allowed_mentions=allowed_mentions,
            wait=True,
        )
    response = await interaction.response.send_message(
        content=content,
        embed=MISSING if embed is None else embed,
        view=MISSING if view is None else view,
        ephemeral=ephemeral,
        files=list(files) or MISSING,
        allowed_mentions=allowed_mentions,
    )
    if isinstance(response.resource, discord.InteractionMessage):
        return response.resource
    return await interaction.original_response()


async def edit_message(interaction: discord.Interaction, **fields: Any) -> None:
    """Edit the message a component belongs to, whether or not the update was deferred."""
    if interaction.response.is_done():
        await interaction.edit_original_response(**fields)
    else:
        await interaction.response.edit_message(**fields)


async def update_message(
    interaction: discord.Interaction,
    *,
    embed: discord.Embed,
    view: discord.ui.View,
    attachments: Sequence[discord.File] | None = None,
) -> None:
    """Edit the message a component belongs to, whether or not the update was deferred.

    `attachments` replace the message's files (an empty list removes them); None keeps them."""
    files = MISSING if attachments is None else list(attachments)
    if interaction.response.is_done():
        await interaction.edit_original_response(embed=embed, view=view, attachments=files)
    else:
        await interaction.response.edit_message(embed=embed, view=view, attachments=files)


# ---------------------------------------------------------------------------------------------
# Controls answered by custom_id, in any process


class Controls(discord.ui.View):
    """Components to send with a message. discord.py keeps nothing for them (the view counts
    as finished): `Control` items, registered at load time, answer their clicks."""

    def __init__(self, *items: discord.ui.Item[Any]) -> None:
        super().__init__(timeout=None)
        for item in items:
            self.add_item(item)

    def is_finished(self) -> bool:
        return True

    def links_only(self) -> Controls | None:
        """What stays when the controls go: the link buttons (they need no bot)."""
        links = [
            discord.ui.Button[Any](label=item.label, url=item.url, row=item.row, emoji=item.emoji)
            for item in self.children
            if isinstance(item, discord.ui.Button) and item.url is not None
        ]
        return Controls(*links) if links else None


def control_button(
    label: str,
    custom_id: str,
    *,
    style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    row: int | None = None,
    emoji: str | None = None,
    disabled: bool = False,
) -> discord.ui.Button[Any]:
    """A button answered by a `Control` whose template matches `custom_id`."""
    return discord.ui.Button(
        label=label, custom_id=custom_id, style=style, row=row, emoji=emoji, disabled=disabled
    )


class Control(discord.ui.DynamicItem[discord.ui.Item[Any]], template=r"(?!)"):
    """A button or menu answered from its custom_id alone. Subclasses give the `template`
    (a regular expression with named groups; the whole custom_id at most 100 characters) and
    `handle`, which reads `self.match`; errors go through the central handler."""

    def __init__(self, item: discord.ui.Item[Any], match: re.Match[str]) -> None:
        super().__init__(item)
        self.match = match

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Control:
        return cls(item, match)

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.handle(interaction)
        except Exception as exc:  # the dynamic view's own handler would only log it
            await report_interaction_error(interaction, exc)

    async def handle(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError


def selected_values(interaction: discord.Interaction) -> list[str]:
    """The values chosen in the select menu the interaction comes from."""
    data: dict[str, Any] = dict(interaction.data or {})
    return [str(value) for value in data.get("values") or []]


async def take_choice(
    interaction: discord.Interaction,
    states: InteractionStateRepository,
    state_id: str,
    *,
    kind: str,
    command: str,
    taken: str,
    offered: Callable[[InteractionState], bool],
    allowed: Callable[[], Awaitable[object]] | None = None,
) -> InteractionState | None:
    """A choice made in a menu kept as an interaction state of `kind`, offered to whoever ran
    `command`: the state, taken for this choice alone, or None when it expired (the message
    then says so and loses its menu).

    Refused with `UserFacingError`: a state gone, someone else's menu, what `allowed` (awaited
    after the owner check) refuses, a choice `offered` says was not offered, and a second
    choice, whichever process receives it (`taken` says so)."""
    state = await states.get(state_id)
    if state is None or state.kind != kind:
        raise UserFacingError(f"This choice is no longer available: run {command} again.")
    if state.owner_id != interaction.user.id:
        raise UserFacingError(NOT_YOURS)
    if allowed is not None:
        await allowed()
    if state.expired(time.time()):
        await interaction.response.edit_message(
            content=f"This choice expired: run {command} again.", view=None
        )
        return None
    if not offered(state):
        raise UserFacingError("That choice is not one I offered: pick from the list.")
    # Done with in one conditional statement: of two choices (or a choice and the expiry
    # timer), whichever process writes first takes it.
    if not await states.finish(state_id, "chosen"):
        raise UserFacingError(taken)
    return state


def message_owner_id(interaction: discord.Interaction) -> int | None:
    """Whom the message a component belongs to was made for: the member whose command (or
    click) created it, as Discord records it on the message (so a custom_id cannot forge
    it). None for messages no interaction created (announcements)."""
    message = interaction.message
    metadata = None if message is None else message.interaction_metadata
    return None if metadata is None else metadata.user.id


class StaticModal(BaseModal):
    """A form that discord.py keeps nothing for: its submission is answered by the listener
    of the cog that sent it (`modal_match`), in whichever process receives it."""

    def is_finished(self) -> bool:
        return True


def modal_match(
    interaction: discord.Interaction, template: re.Pattern[str]
) -> re.Match[str] | None:
    """How `template` matches the custom_id of a submitted form (None: not such a form)."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return None
    data: dict[str, Any] = dict(interaction.data or {})
    custom_id = data.get("custom_id")
    return template.fullmatch(custom_id) if isinstance(custom_id, str) else None


def submitted_values(interaction: discord.Interaction) -> dict[str, str]:
    """The text of each input of a submitted form, by the input's custom_id."""
    values: dict[str, str] = {}

    def walk(components: Sequence[Any]) -> None:
        for component in components:
            if not isinstance(component, dict):
                continue
            if isinstance(component.get("custom_id"), str) and "value" in component:
                values[component["custom_id"]] = str(component.get("value") or "")
            walk(component.get("components") or [])
            if isinstance(component.get("component"), dict):
                walk([component["component"]])

    data: dict[str, Any] = dict(interaction.data or {})
    walk(data.get("components") or [])
    return values


Expiry = Callable[[], Awaitable[object]]


class ControlTimers:
    """What happens to a message's controls after a while without use, in this process: one
    timer per message, started again whenever this process answers on the message.

    Tidying only (the controls themselves work from custom_ids and the database): a process
    that stops takes its timers along, and another one answers later clicks all the same.
    """

    def __init__(self) -> None:
        self._timers: dict[int, asyncio.Task[None]] = {}

    def arm(self, message_id: int, delay: float | None, expire: Expiry) -> None:
        """In `delay` seconds (None: never), call `expire` (which edits the message),
        replacing the message's earlier timer."""
        self.disarm(message_id)
        if delay is None:
            return
        self._timers[message_id] = asyncio.create_task(
            self._run(message_id, delay, expire), name=f"controls of message {message_id}"
        )

    def disarm(self, message_id: int) -> None:
        timer = self._timers.pop(message_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def _run(self, message_id: int, delay: float, expire: Expiry) -> None:
        await asyncio.sleep(delay)
        if self._timers.get(message_id) is asyncio.current_task():
            del self._timers[message_id]
        try:
            await expire()
        except discord.HTTPException as exc:
            # The message may be gone or its token expired: nothing is left to tidy.
            log.info("Could not tidy the controls of message %d: %s", message_id, exc)
        except Exception:
            log.exception("Tidying the controls of message %d failed", message_id)
