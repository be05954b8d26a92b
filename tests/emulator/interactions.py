# Wait helpers take `timeout=` on purpose: tests read better than with asyncio.timeout.
# ruff: noqa: ASYNC109
"""Building INTERACTION_CREATE payloads the way Discord does, and tracking their responses.

Slash commands are typed from the commands the bot synced: the command line
`/feed add url:https://x channel:#papers` is split into the command path (sub-command
groups and sub-commands become options of type 2 and 1) and `name:value` pairs, each value
converted by its option's type, with channel, user, role and attachment options resolved
into `data.resolved`.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.emulator.models import (
    Attachment,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    User,
    new_snowflake,
)

if TYPE_CHECKING:
    from tests.emulator.emulator import DiscordEmulator

# Interaction types.
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Callback types.
PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9

# Option types.
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10
ATTACHMENT = 11

# Command types.
CHAT_INPUT = 1
USER_COMMAND = 2
MESSAGE_COMMAND = 3

DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class InvalidInvocation(ValueError):
    """The test asked for something Discord's client would not let a user send."""


@dataclass
class InteractionResponse:
    """One thing the bot did with an interaction's token.

    `kind` is "callback", "edit_original", "delete_original", "followup", "edit_followup"
    or "delete_followup"; `callback_type` is set for callbacks (4, 5, 6, 7, 8, 9).
    """

    kind: str
    body: Any
    callback_type: int | None = None
    message: Message | None = None
    at: float = field(default_factory=time.monotonic)


class InteractionHandle:
    """An interaction the test dispatched, and everything the bot answered to it.

    Wait helpers raise `TimeoutError` with a description of what did arrive.
    """

    def __init__(
        self,
        emulator: DiscordEmulator,
        payload: dict[str, Any],
        *,
        guild: Guild | None,
        channel: Channel,
        member: Member | None,
        user: User,
        source_message: Message | None = None,
    ) -> None:
        self.emulator = emulator
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.guild = guild
        self.channel = channel
        self.member = member
        self.user = user
        self.source_message = source_message
        self.dispatched_at = time.monotonic()
        self.responses: list[InteractionResponse] = []
        self.callback_type: int | None = None
        self.original: Message | None = None
        self.followups: list[Message] = []
        self.modal: dict[str, Any] | None = None
        self.choices: list[dict[str, Any]] | None = None
        self.late_callback = False

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} type={self.type} callback={self.callback_type}>"

    # -- read back ---------------------------------------------------------------------------

    @property
    def acknowledged(self) -> bool:
        return self.callback_type is not None

    @property
    def callback(self) -> InteractionResponse | None:
        return next((r for r in self.responses if r.kind == "callback"), None)

    @property
    def message(self) -> Message | None:
        """The original response message as it is now (None for modals and autocomplete)."""
        return self.original

    @property
    def ephemeral(self) -> bool:
        """Whether the first visible answer (original response or first follow-up) is ephemeral."""
        message = self.original or (self.followups[0] if self.followups else None)
        return bool(message is not None and message.ephemeral)

    @property
    def messages(self) -> list[Message]:
        """Every message this interaction produced: the original response, then follow-ups."""
        found = [self.original] if self.original is not None else []
        return found + list(self.followups)

    def describe(self) -> str:
        if not self.responses:
            return f"{self!r}: no response at all"
        lines = [f"{self!r} responses:"]
        for response in self.responses:
            text = response.message.text[:200] if response.message else ""
            lines.append(f"  {response.kind} type={response.callback_type} {text!r}")
        return "\n".join(lines)

    # -- waiting -----------------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[InteractionHandle], Any], *, timeout: float = 5.0, what: str = ""
    ) -> Any:
        return await self.emulator.wait_for(
            lambda: predicate(self),
            timeout=timeout,
            description=lambda: f"{what or 'condition'} on {self.describe()}",
        )

    async def wait_callback(self, timeout: float = 5.0) -> InteractionResponse:
        """The initial response (POST .../callback)."""
        return await self.wait_for(lambda h: h.callback, timeout=timeout, what="a callback")

    async def wait_reply(self, timeout: float = 5.0) -> Message:
        """The first message the user sees: the original response once it is no longer
        "thinking", the message a component click updated, or else the first follow-up."""

        def visible(handle: InteractionHandle) -> Message | None:
            if handle.original is not None and not handle.original.loading:
                return handle.original
            return handle.followups[0] if handle.followups else None

        return await self.wait_for(visible, timeout=timeout, what="a visible reply")

    async def wait_followup(self, count: int = 1, timeout: float = 5.0) -> Message:
        """The `count`-th follow-up message (1-based)."""
        return await self.wait_for(
            lambda h: h.followups[count - 1] if len(h.followups) >= count else None,
            timeout=timeout,
            what=f"follow-up #{count}",
        )

    async def wait_modal(self, timeout: float = 5.0) -> dict[str, Any]:
        """The modal the bot answered with (callback type 9): its `data` object."""
        return await self.wait_for(lambda h: h.modal, timeout=timeout, what="a modal")

    async def wait_choices(self, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Autocomplete choices (callback type 8)."""
        # Wrapped: an empty list of choices is an answer too.
        found = await self.wait_for(
            lambda h: (h.choices,) if h.choices is not None else None,
            timeout=timeout,
            what="autocomplete choices",
        )
        return found[0]


@dataclass
class CommandContext:
    guild: Guild | None
    channel: Channel
    member: Member | None
    user: User


def build_base_payload(
    emulator: DiscordEmulator,
    kind: int,
    context: CommandContext,
    data: dict[str, Any] | None,
    *,
    permissions: int,
    locale: str = "en-US",
    message: Message | None = None,
) -> dict[str, Any]:
    """The fields every interaction carries (discord.py needs all of these)."""
    guild = context.guild
    channel = context.channel
    app_permissions = (
        guild.bot_member.permissions_in(channel)
        if guild is not None
        else emulator.dm_app_permissions
    )
    payload: dict[str, Any] = {
        "id": str(new_snowflake()),
        "application_id": str(emulator.application_id),
        "type": kind,
        "token": "emu." + secrets.token_urlsafe(24),
        "version": 1,
        "channel_id": str(channel.id),
        "channel": channel.payload(),
        "locale": locale,
        "app_permissions": str(app_permissions),
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(guild.id)}
        if guild is not None
        else {"1": str(context.user.id)},
        "context": 0 if guild is not None else 1,
        "attachment_size_limit": emulator.attachment_size_limit,
    }
    if data is not None:
        payload["data"] = data
    if guild is not None:
        assert context.member is not None
        payload["guild_id"] = str(guild.id)
        payload["guild"] = guild.interaction_guild_payload()
        payload["guild_locale"] = guild.preferred_locale
        payload["member"] = {**context.member.payload(), "permissions": str(permissions)}
    else:
        payload["user"] = context.user.payload()
    if message is not None:
        payload["message"] = message.payload
    return payload


class Resolver:
    """Collects `data.resolved` while option values are converted."""

    def __init__(self, context: CommandContext) -> None:
        self.context = context
        self.resolved: dict[str, dict[str, Any]] = {}

    def add_user(self, user: User, member: Member | None) -> str:
        self.resolved.setdefault("users", {})[str(user.id)] = user.payload()
        if member is not None:
            member_data = member.payload(with_user=False)
            member_data["permissions"] = str(member.permissions_in(self.context.channel))
            self.resolved.setdefault("members", {})[str(user.id)] = member_data
        return str(user.id)

    def add_role(self, role: Role) -> str:
        self.resolved.setdefault("roles", {})[str(role.id)] = role.payload()
        return str(role.id)

    def add_channel(self, channel: Channel) -> str:
        permissions = (
            self.context.member.permissions_in(channel) if self.context.member is not None else 0
        )
        self.resolved.setdefault("channels", {})[str(channel.id)] = {
            **channel.payload(),
            "permissions": str(permissions),
        }
        return str(channel.id)

    def add_attachment(self, attachment: Attachment) -> str:
        self.resolved.setdefault("attachments", {})[str(attachment.id)] = attachment.payload()
        return str(attachment.id)

    def add_message(self, message: Message) -> str:
        self.resolved.setdefault("messages", {})[str(message.id)] = message.payload
        return str(message.id)


def split_command_line(
    line: str, commands: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], str]:
    """Find the command, the sub-command path and the leaf that owns the options.

    Returns (command, [group/sub-command option defs], leaf definition, option text).
    """
    text = line.strip()
    if text.startswith("/"):
        text = text[1:]
    name, _, rest = text.partition(" ")
    command = next(
        (c for c in commands if c["name"] == name and (c.get("type") or 1) == CHAT_INPUT), None
    )
    if command is None:
        names = sorted(c["name"] for c in commands if (c.get("type") or 1) == CHAT_INPUT)
        raise InvalidInvocation(f"the bot has not synced a slash command /{name}; it has {names}")
    path: list[dict[str, Any]] = []
    node = command
    while any(o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in node.get("options") or []):
        word, _, remainder = rest.strip().partition(" ")
        child = next(
            (
                o
                for o in node.get("options") or []
                if o["name"] == word and o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)
            ),
            None,
        )
        if child is None:
            choices = [o["name"] for o in node.get("options") or []]
            raise InvalidInvocation(f"/{name}: expected one of {choices}, got {word!r}")
        path.append(child)
        node = child
        rest = remainder
    return command, path, node, rest.strip()


def parse_option_text(text: str, leaf: dict[str, Any]) -> dict[str, str]:
    """Split `url:https://x channel:#papers` on the names the leaf actually has."""
    names = [o["name"] for o in leaf.get("options") or []]
    if not text:
        return {}
    if not names:
        raise InvalidInvocation(f"{leaf['name']} takes no options, got {text!r}")
    pattern = re.compile(
        r"(?:^|\s)(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r"):"
    )
    matches = list(pattern.finditer(text))
    if not matches or matches[0].start() != 0:
        raise InvalidInvocation(f"cannot read options from {text!r}; options are {names}")
    values: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        values[match.group(1)] = text[match.end() : end].strip()
    return values


def convert_option(
    emulator: DiscordEmulator,
    definition: dict[str, Any],
    raw: Any,
    resolver: Resolver,
    *,
    focused: bool = False,
) -> Any:
    """Turn a test value into the option `value` Discord sends (ids for resolved objects)."""
    kind = definition["type"]
    name = definition["name"]
    guild = resolver.context.guild
    if focused:
        # Autocomplete sends the partial text as typed, unresolved and unvalidated.
        return raw if isinstance(raw, str) else str(raw)
    if kind == STRING:
        value = str(raw)
        value = _apply_choices(definition, value)
        _check_length(definition, value)
        return value
    if kind in (INTEGER, NUMBER):
        if isinstance(raw, str) and definition.get("choices"):
            raw = _apply_choices(definition, raw)
        try:
            number: int | float = int(raw) if kind == INTEGER else float(raw)
        except (TypeError, ValueError) as exc:
            raise InvalidInvocation(f"option {name}: {raw!r} is not a number") from exc
        _check_range(definition, number)
        if definition.get("choices") and number not in [c["value"] for c in definition["choices"]]:
            raise InvalidInvocation(f"option {name}: {number} is not one of the choices")
        return number
    if kind == BOOLEAN:
        if isinstance(raw, bool):
            return raw
        lowered = str(raw).lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise InvalidInvocation(f"option {name}: {raw!r} is not a boolean")
    if kind == CHANNEL:
        channel = raw if isinstance(raw, Channel) else _find_channel(emulator, guild, raw)
        allowed = definition.get("channel_types")
        if allowed and channel.type not in allowed:
            raise InvalidInvocation(
                f"option {name}: #{channel.name} has type {channel.type}, allowed {allowed}"
            )
        return resolver.add_channel(channel)
    if kind == USER:
        user, member = _find_user(emulator, guild, raw)
        return resolver.add_user(user, member)
    if kind == ROLE:
        role = raw if isinstance(raw, Role) else _find_role(guild, raw)
        return resolver.add_role(role)
    if kind == MENTIONABLE:
        if isinstance(raw, Role):
            return resolver.add_role(raw)
        try:
            user, member = _find_user(emulator, guild, raw)
        except LookupError:
            return resolver.add_role(_find_role(guild, raw))
        return resolver.add_user(user, member)
    if kind == ATTACHMENT:
        if not isinstance(raw, Attachment):
            attachment = emulator.uploads_by_name.get(str(raw))
            if attachment is None:
                raise InvalidInvocation(
                    f"option {name}: pass emu.upload_attachment(...) or the filename of one"
                )
            raw = attachment
        return resolver.add_attachment(raw)
    raise InvalidInvocation(f"option {name}: unsupported option type {kind}")


def _apply_choices(definition: dict[str, Any], value: str) -> Any:
    choices = definition.get("choices")
    if not choices:
        return value
    for choice in choices:
        if choice["name"] == value or str(choice["value"]) == value:
            return choice["value"]
    raise InvalidInvocation(
        f"option {definition['name']}: {value!r} is not one of {[c['name'] for c in choices]}"
    )


def _check_length(definition: dict[str, Any], value: str) -> None:
    low = definition.get("min_length")
    high = definition.get("max_length")
    if (low is not None and len(value) < low) or (high is not None and len(value) > high):
        raise InvalidInvocation(
            f"option {definition['name']}: length {len(value)} outside [{low}, {high}]"
        )


def _check_range(definition: dict[str, Any], value: float) -> None:
    low = definition.get("min_value")
    high = definition.get("max_value")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidInvocation(f"option {definition['name']}: {value} outside [{low}, {high}]")


def _mention_id(raw: str, prefix: str) -> int | None:
    match = re.fullmatch(rf"<{re.escape(prefix)}(\d+)>", raw.strip())
    if match:
        return int(match.group(1))
    return int(raw) if raw.strip().isdigit() else None


def _find_channel(emulator: DiscordEmulator, guild: Guild | None, raw: Any) -> Channel:
    if guild is None:
        raise InvalidInvocation("channel options need a guild")
    text = str(raw)
    channel_id = _mention_id(text, "#")
    return guild.channel(channel_id if channel_id is not None else text.lstrip("#"))


def _find_role(guild: Guild | None, raw: Any) -> Role:
    if guild is None:
        raise InvalidInvocation("role options need a guild")
    text = str(raw)
    role_id = _mention_id(text, "@&")
    return guild.role(role_id if role_id is not None else text.lstrip("@"))


def _find_user(
    emulator: DiscordEmulator, guild: Guild | None, raw: Any
) -> tuple[User, Member | None]:
    if isinstance(raw, Member):
        return raw.user, raw
    if isinstance(raw, User):
        member = guild.members_by_id.get(raw.id) if guild is not None else None
        return raw, member
    text = str(raw)
    user_id = _mention_id(text, "@") or _mention_id(text, "@!")
    if guild is not None:
        member = guild.member(user_id if user_id is not None else text.lstrip("@"))
        return member.user, member
    if user_id is not None and user_id in emulator.users:
        return emulator.users[user_id], None
    for user in emulator.users.values():
        if user.username == text.lstrip("@"):
            return user, None
    raise LookupError(f"no user {raw!r}")


def build_command_options(
    emulator: DiscordEmulator,
    path: list[dict[str, Any]],
    leaf: dict[str, Any],
    values: Mapping[str, Any],
    resolver: Resolver,
    *,
    focused: str | None = None,
) -> list[dict[str, Any]]:
    """The `data.options` tree: leaf options wrapped in their sub-command (group) options."""
    definitions = {o["name"]: o for o in leaf.get("options") or []}
    unknown = set(values) - set(definitions)
    if unknown:
        raise InvalidInvocation(f"unknown options {sorted(unknown)}; known {sorted(definitions)}")
    if focused is not None and focused not in values:
        raise InvalidInvocation(f"the focused option {focused!r} needs a (partial) value")
    if focused is None:
        missing = [n for n, o in definitions.items() if o.get("required") and n not in values]
        if missing:
            raise InvalidInvocation(f"missing required options {missing}")
    options: list[dict[str, Any]] = []
    for name, definition in definitions.items():  # Discord sends them in definition order
        if name not in values:
            continue
        is_focused = name == focused
        if focused is not None and not is_focused:
            # Autocomplete carries the other options as typed, without resolving them.
            raw = values[name]
            value: Any = str(getattr(raw, "id", raw))
            if definition["type"] in (INTEGER, NUMBER, BOOLEAN, STRING):
                value = convert_option(emulator, definition, raw, resolver)
        else:
            value = convert_option(emulator, definition, values[name], resolver, focused=is_focused)
        option: dict[str, Any] = {"name": name, "type": definition["type"], "value": value}
        if is_focused:
            option["focused"] = True
        options.append(option)
    for parent in reversed(path):
        options = [{"name": parent["name"], "type": parent["type"], "options": options}]
    return options
