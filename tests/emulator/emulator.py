# Wait helpers take `timeout=` on purpose: tests read better than with asyncio.timeout.
# ruff: noqa: ASYNC109
"""`DiscordEmulator`: a protocol-faithful stand-in for Discord on 127.0.0.1.

One aiohttp server holds the REST API (`/api/v10/...`), the gateway websocket (`/gateway`,
and `/gateway-resume` as the `resume_gateway_url`) and an attachment "CDN"
(`/attachments/...`). Tests build the world (guilds, channels, roles, members), point the
real discord.py client at `api_base` and `gateway_url`, then act as users (slash commands,
clicks, modals) and read back what the bot did. See tests/emulator/README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from bot.collector import hold_heap_frozen, release_heap
from tests.emulator.faults import Faults, RoutePattern
from tests.emulator.gateway import OP_RECONNECT, GatewayServer, GatewaySession, shard_of
from tests.emulator.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    MESSAGE_COMMAND,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    USER_COMMAND,
    CommandContext,
    InteractionHandle,
    InvalidInvocation,
    Resolver,
    build_base_payload,
    build_command_options,
    parse_option_text,
    split_command_line,
)
from tests.emulator.models import (
    Attachment,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    Permission,
    Role,
    User,
    iso_now,
    new_snowflake,
    permission_value,
    snowflake_on_shard,
)
from tests.emulator.rest import RequestRecord, RestApi
from tests.emulator.spec import SPEC_PATH, DiscordSpec, load_spec, spec_missing_reason

DEFAULT_TOKEN = "emulator.bot.token"


class DiscordEmulator:
    """Discord, as far as a bot can tell. Create, configure, `await start()`, use, `await stop()`.

    Attributes worth reading in tests: `requests` (every REST request, in order),
    `violations` (spec/limit/protocol breaches the bot committed; the fixture fails the test
    if any remain), `faults` (fault injection), `guilds`, `messages_by_id`, `interactions`.
    """

    INTENT_GUILDS = 1 << 0
    INTENT_GUILD_MEMBERS = 1 << 1
    INTENT_GUILD_MESSAGES = 1 << 9
    INTENT_DIRECT_MESSAGES = 1 << 12
    INTENT_MESSAGE_CONTENT = 1 << 15

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_name: str = "ShortScience",
        application_id: int | None = None,
        validate_spec: bool = True,
        spec_path: Any = SPEC_PATH,
    ) -> None:
        self.token = token
        self.application_id = application_id or new_snowflake()
        self.bot_user = User(id=self.application_id, username=bot_name, bot=True)
        self.owner_user = User(id=new_snowflake(), username="app-owner")
        self.users: dict[int, User] = {
            self.bot_user.id: self.bot_user,
            self.owner_user.id: self.owner_user,
        }
        self.application_flags = 0
        self.guilds_by_id: dict[int, Guild] = {}
        self.channels_by_id: dict[int, Channel] = {}
        self.messages_by_id: dict[int, Message] = {}
        self.attachments: dict[int, Attachment] = {}
        self.uploads_by_name: dict[str, Attachment] = {}
        self.global_commands: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, InteractionHandle] = {}
        self.interactions_by_token: dict[str, InteractionHandle] = {}
        self.requests: list[RequestRecord] = []
        self.violations: list[str] = []
        self.faults = Faults()
        self.spec: DiscordSpec | None = load_spec(spec_path) if validate_spec else None
        self.spec_skip_reason: str | None = (
            spec_missing_reason(spec_path) if validate_spec else "spec validation turned off"
        )
        # Tunables (Discord's values unless a test changes them).
        self.interaction_deadline = 3.0
        self.attachment_size_limit = DEFAULT_ATTACHMENT_SIZE_LIMIT
        self.upload_size_limit = 25 * 1024 * 1024
        self.nonce_window = 300.0
        self.rate_limit_per_window = 50
        self.rate_limit_window = 1.0
        # Discord's global limit (50 requests per second per bot token, interactions and
        # webhooks excepted) is off unless asked for: `emu.global_rate_limit = 50`, counted
        # in fixed windows of `global_rate_limit_window` seconds.
        self.global_rate_limit: int | None = None
        self.global_rate_limit_window = 1.0
        # Sharding (GET /gateway/bot): the shard count Discord recommends, how many shards may
        # IDENTIFY at once (buckets `shard_id % max_concurrency`, each one IDENTIFY per
        # `identify_interval` s), the daily session starts, and the most guilds one shard
        # may hold before IDENTIFY is closed with 4011 (Sharding required).
        self.recommended_shards = 1
        self.max_concurrency = 1
        self.identify_interval = 5.0
        self.max_guilds_per_shard = 2500
        self.session_start_total = 1000
        self.session_starts_remaining = 1000
        self.session_start_reset_after = 24 * 3600.0
        self._session_window_started_at: float | None = None
        self.dm_app_permissions = Permission.BOT_DEFAULT
        self.commands_sync_count = 0
        self.poll_interval = 0.05
        self._nonces: dict[tuple[int, str], tuple[float, Message]] = {}
        self._pinned_at: dict[int, str] = {}
        self._dm_channels: dict[int, Channel] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self.rest = RestApi(self)
        self.gateway = GatewayServer(self)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self._heap_frozen = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> DiscordEmulator:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway-resume", self.gateway.handle)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self.rest.serve_attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        if not self._heap_frozen:
            # A full collection would walk the whole heap (the spec, what a long test
            # session left) on the event loop, 0.1 s and more, and requests that came
            # meanwhile would be stamped together: what exists now is left out of it.
            hold_heap_frozen()
            self._heap_frozen = True
        return self

    async def stop(self) -> None:
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._heap_frozen:
            release_heap()
            self._heap_frozen = False

    async def __aenter__(self) -> DiscordEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def attachment_base_url(self) -> str:
        """Where stored files are served (the emulator's CDN)."""
        return f"{self.base_url}/attachments/"

    @property
    def api_base(self) -> str:
        """What `discord.http.Route.BASE` (DISCORD_API_BASE) must be."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What `DiscordWebSocket.DEFAULT_GATEWAY` (DISCORD_GATEWAY_URL) must be."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway-resume"

    # -- building the world -------------------------------------------------------------------

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        owner: User | None = None,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """A guild the bot is in (with its own managed role). Sent as GUILD_CREATE when the
        bot is already connected, like joining a new server.

        `shard=(shard_id, shard_count)` picks an id that shard gets
        (`(guild_id >> 22) % shard_count == shard_id`)."""
        owner = owner or self.owner_user
        guild_id = new_snowflake() if shard is None else snowflake_on_shard(*shard)
        guild = Guild(self, guild_id, name, owner)
        self.guilds_by_id[guild.id] = guild
        bot_role = Role(
            id=new_snowflake(),
            guild=guild,
            name=self.bot_user.username,
            permissions=Permission.BOT_DEFAULT,
            position=1,
            managed=True,
        )
        guild.roles_by_id[bot_role.id] = bot_role
        guild.members_by_id[self.bot_user.id] = Member(
            user=self.bot_user, guild=guild, roles=[bot_role]
        )
        if owner.id != self.bot_user.id:
            guild.members_by_id[owner.id] = Member(user=owner, guild=guild)
        self._broadcast(
            "GUILD_CREATE",
            guild.create_payload(joined=True),
            intent=self.INTENT_GUILDS,
            guild_id=guild.id,
        )
        return guild

    def remove_guild(self, guild: Guild) -> None:
        """The bot was removed from `guild` (GUILD_DELETE)."""
        self.guilds_by_id.pop(guild.id, None)
        for channel in list(guild.channels_by_id.values()):
            self.channels_by_id.pop(channel.id, None)
        self._broadcast(
            "GUILD_DELETE", {"id": str(guild.id)}, intent=self.INTENT_GUILDS, guild_id=guild.id
        )

    @property
    def guilds(self) -> list[Guild]:
        return list(self.guilds_by_id.values())

    @property
    def guild(self) -> Guild:
        """The first guild added (most tests need only one)."""
        if not self.guilds_by_id:
            raise LookupError("no guild: call emu.add_guild() first")
        return next(iter(self.guilds_by_id.values()))

    def add_user(self, username: str, *, bot: bool = False) -> User:
        """A user outside any guild (for DMs)."""
        user = User(id=new_snowflake(), username=username, bot=bot)
        self.users[user.id] = user
        return user

    def dm_channel(self, user: User) -> Channel:
        channel = self._dm_channels.get(user.id)
        if channel is None:
            channel = Channel(
                id=new_snowflake(), name="", type=ChannelType.DM, guild=None, recipients=[user]
            )
            self._dm_channels[user.id] = channel
            self.channels_by_id[channel.id] = channel
        return channel

    def upload_attachment(
        self, filename: str, data: bytes, *, content_type: str | None = None
    ) -> Attachment:
        """A file a user attaches to a slash-command option; its bytes are served at `.url`."""
        attachment = self.store_attachment(
            filename, data, content_type=content_type, ephemeral=True
        )
        self.uploads_by_name[filename] = attachment
        return attachment

    def store_attachment(
        self,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> Attachment:
        attachment_id = new_snowflake()
        guessed = content_type or mimetypes.guess_type(filename)[0]
        attachment = Attachment(
            id=attachment_id,
            filename=filename,
            data=data,
            content_type=guessed,
            url=f"{self.base_url}/attachments/{attachment_id}/{filename}",
            description=description,
            ephemeral=ephemeral,
        )
        self.attachments[attachment_id] = attachment
        return attachment

    # -- payloads the REST server and gateway share ---------------------------------------------

    def application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self.application_flags,
            "owner": self.owner_user.payload(),
            "team": None,
            "bot": self.bot_user.payload(),
            "guild_id": None,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds_by_id),
            "integration_types_config": {"0": {}},
        }

    def gateway_bot_payload(self) -> dict[str, Any]:
        """GET /gateway/bot: the gateway URL, the recommended shards, the session start limit."""
        self._session_window_reset()
        started = self._session_window_started_at
        reset_after = (
            self.session_start_reset_after
            if started is None
            else max(0.0, started + self.session_start_reset_after - time.monotonic())
        )
        return {
            "url": self.gateway_url,
            "shards": self.recommended_shards,
            "session_start_limit": {
                "total": self.session_start_total,
                "remaining": self.session_starts_remaining,
                "reset_after": int(reset_after * 1000),
                "max_concurrency": self.max_concurrency,
            },
        }

    def exhaust_session_starts(self, *, reset_after: float) -> None:
        """No session start left until `reset_after` seconds from now (then the full total)."""
        self.session_starts_remaining = 0
        self.session_start_reset_after = reset_after
        self._session_window_started_at = time.monotonic()

    def _session_window_reset(self) -> None:
        started = self._session_window_started_at
        if started is not None and time.monotonic() - started >= self.session_start_reset_after:
            self.session_starts_remaining = self.session_start_total
            self._session_window_started_at = None

    def _take_session_start(self) -> bool:
        """Count one IDENTIFY against the session start limit; False when none is left."""
        self._session_window_reset()
        if self.session_starts_remaining <= 0:
            return False
        if self._session_window_started_at is None:
            self._session_window_started_at = time.monotonic()
        self.session_starts_remaining -= 1
        return True

    def reset_token(self) -> None:
        """What Discord does to a bot that went over its session starts: a new token (the old
        one answers 401 and 4004 from now on)."""
        self.token = f"reset.{new_snowflake()}.token"

    def shard_of(self, guild: Guild, shard_count: int) -> int:
        """The shard `guild`'s events go to when the bot runs `shard_count` shards."""
        return shard_of(guild.id, shard_count)

    def _ready_payload(self, session: GatewaySession, guilds: list[Guild]) -> dict[str, Any]:
        user = self.bot_user.payload()
        user.update({"verified": True, "mfa_enabled": False, "email": None})
        payload: dict[str, Any] = {
            "v": 10,
            "user": user,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ['["discord-emulator",{"micros":0}]'],
        }
        if "shard" in session.identify:
            payload["shard"] = session.identify["shard"]
        return payload

    # -- events ------------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake every `wait_for` so it re-checks its condition."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _broadcast(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int | None = None,
        guild_id: int | None = None,
    ) -> int:
        count = self.gateway.broadcast(event, data, intent=intent, guild_id=guild_id)
        self._notify()
        return count

    def _guild_changed(
        self, guild: Guild, event: str, data: dict[str, Any], *, intent: int | None = None
    ) -> None:
        if event in ("CHANNEL_CREATE", "THREAD_CREATE"):
            self.channels_by_id[int(data["id"])] = guild.channels_by_id[int(data["id"])]
        if event == "CHANNEL_DELETE" or event == "THREAD_DELETE":
            channel = self.channels_by_id.get(int(data["id"]))
            if channel is not None:
                channel.deleted = True
        data = {**data, "guild_id": str(guild.id)} if event != "THREAD_CREATE" else data
        if guild.id in self.guilds_by_id:
            self._broadcast(
                event,
                data,
                intent=intent if intent is not None else self.INTENT_GUILDS,
                guild_id=guild.id,
            )

    def _message_event(self, event: str, message: Message) -> None:
        guild = message.channel.guild
        data = dict(message.payload)
        intent = self.INTENT_DIRECT_MESSAGES if guild is None else self.INTENT_GUILD_MESSAGES
        if guild is not None:
            data["guild_id"] = str(guild.id)
            member = guild.members_by_id.get(message.author_id)
            if member is not None:
                data["member"] = member.payload(with_user=False)
        self._broadcast(event, data, intent=intent, guild_id=guild.id if guild else None)

    def _thread_event(self, event: str, thread: Channel, *, newly_created: bool = False) -> None:
        data = thread.payload()
        if newly_created:
            data["newly_created"] = True
        if thread.bot_is_member:
            data["member"] = thread.thread_member_payload(self.bot_user.id)
        guild_id = thread.guild.id if thread.guild is not None else None
        self._broadcast(event, data, intent=self.INTENT_GUILDS, guild_id=guild_id)

    def _commands_synced(self, guild_id: int | None) -> None:
        self.commands_sync_count += 1
        if guild_id is not None:
            self.guilds_by_id[guild_id].commands_synced += 1
        self._notify()

    def _nonce_lookup(self, channel: Channel, nonce: object) -> Message | None:
        entry = self._nonces.get((channel.id, str(nonce)))
        if entry is None or time.monotonic() - entry[0] > self.nonce_window:
            return None
        return None if entry[1].deleted else entry[1]

    def _nonce_remember(self, channel: Channel, nonce: object, message: Message) -> None:
        self._nonces[(channel.id, str(nonce))] = (time.monotonic(), message)

    async def dispatch(self, event: str, data: dict[str, Any], *, intent: int | None = None) -> int:
        """Send any gateway event to the connected bot (to the shard of the event's guild:
        its `id` for GUILD_CREATE/UPDATE/DELETE, else its `guild_id`; none: shard 0);
        returns how many sessions got it."""
        await self.wait_until_connected()
        return self._broadcast(event, data, intent=intent)

    # -- acting as users ---------------------------------------------------------------------

    def _context(
        self,
        *,
        guild: Guild | None,
        channel: Channel | None,
        member: Member | None,
        user: User | None = None,
    ) -> CommandContext:
        if channel is not None:
            guild = channel.guild
        elif guild is None:
            guild = self.guild
        if guild is None:
            assert channel is not None
            if user is None:
                raise InvalidInvocation("a DM interaction needs user=")
            return CommandContext(guild=None, channel=channel, member=None, user=user)
        if channel is None:
            channel = next(c for c in guild.channels if c.type == ChannelType.GUILD_TEXT)
        if member is None:
            humans = [m for m in guild.members if not m.user.bot and m.id != guild.owner_id]
            if not humans:
                raise InvalidInvocation(f"{guild!r} has no member to act as: add_member() first")
            member = humans[0]
        return CommandContext(guild=guild, channel=channel, member=member, user=member.user)

    def _permissions(self, context: CommandContext, permissions: object | None) -> int:
        if permissions is not None:
            return permission_value(permissions)
        if context.member is None:
            return Permission.ALL
        return context.member.permissions_in(context.channel)

    def commands_for(self, guild: Guild | None) -> list[dict[str, Any]]:
        """Commands a user in `guild` sees: the guild's own, then global ones."""
        found = list(guild.commands.values()) if guild is not None else []
        names = {(c["name"], c["type"]) for c in found}
        found += [c for c in self.global_commands.values() if (c["name"], c["type"]) not in names]
        return found

    async def _send_interaction(
        self,
        kind: int,
        context: CommandContext,
        data: dict[str, Any] | None,
        *,
        permissions: object | None,
        locale: str,
        message: Message | None = None,
    ) -> InteractionHandle:
        # Discord sends a guild's interactions to that guild's shard, others to shard 0.
        await self.wait_until_connected(guild=context.guild)
        payload = build_base_payload(
            self,
            kind,
            context,
            data,
            permissions=self._permissions(context, permissions),
            locale=locale,
            message=message,
        )
        handle = InteractionHandle(
            self,
            payload,
            guild=context.guild,
            channel=context.channel,
            member=context.member,
            user=context.user,
            source_message=message,
        )
        self.interactions[handle.id] = handle
        self.interactions_by_token[handle.token] = handle
        guild_id = context.guild.id if context.guild is not None else None
        self._broadcast("INTERACTION_CREATE", payload, guild_id=guild_id)
        return handle

    async def slash(
        self,
        command_line: str,
        /,
        options: Mapping[str, Any] | None = None,
        *,
        member: Member | None = None,
        channel: Channel | None = None,
        guild: Guild | None = None,
        permissions: object | None = None,
        locale: str = "en-US",
        user: User | None = None,
    ) -> InteractionHandle:
        """Run a slash command as a member, e.g. `await emu.slash("/feed add url:x channel:#c")`.

        `options` adds or overrides values with Python objects (Channel, Member, Role,
        Attachment from `upload_attachment`, numbers...). `permissions` (int, string or
        discord.Permissions) is the member's permission set in the interaction; by default
        it is computed from their roles and the channel's overwrites.
        """
        context = self._context(guild=guild, channel=channel, member=member, user=user)
        command, path, leaf, text = split_command_line(
            command_line, self.commands_for(context.guild)
        )
        values: dict[str, Any] = dict(parse_option_text(text, leaf))
        values.update(options or {})
        resolver = Resolver(context)
        data = self._command_data(command, context)
        data["options"] = build_command_options(self, path, leaf, values, resolver)
        if resolver.resolved:
            data["resolved"] = resolver.resolved
        return await self._send_interaction(
            APPLICATION_COMMAND, context, data, permissions=permissions, locale=locale
        )

    async def autocomplete(
        self,
        command_line: str,
        /,
        focused: str,
        options: Mapping[str, Any] | None = None,
        *,
        member: Member | None = None,
        channel: Channel | None = None,
        guild: Guild | None = None,
        permissions: object | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Type into an autocomplete option: `await emu.autocomplete("/paper show id:att", "id")`.

        Read the answer with `await handle.wait_choices()`.
        """
        context = self._context(guild=guild, channel=channel, member=member)
        command, path, leaf, text = split_command_line(
            command_line, self.commands_for(context.guild)
        )
        values: dict[str, Any] = dict(parse_option_text(text, leaf))
        values.update(options or {})
        values.setdefault(focused, "")
        definition = next((o for o in leaf.get("options") or [] if o["name"] == focused), None)
        if definition is None or not definition.get("autocomplete"):
            raise InvalidInvocation(f"option {focused!r} of {leaf['name']} has no autocomplete")
        data = self._command_data(command, context)
        data["options"] = build_command_options(
            self, path, leaf, values, Resolver(context), focused=focused
        )
        return await self._send_interaction(
            AUTOCOMPLETE, context, data, permissions=permissions, locale=locale
        )

    def _command_data(self, command: dict[str, Any], context: CommandContext) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": command["type"],
        }
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        return data

    def _context_menu(self, name: str, kind: int, guild: Guild | None) -> dict[str, Any]:
        for command in self.commands_for(guild):
            if command["name"] == name and command["type"] == kind:
                return command
        raise InvalidInvocation(
            f"the bot has not synced a context-menu command {name!r} (type {kind})"
        )

    async def message_command(
        self,
        name: str,
        target: Message,
        *,
        member: Member | None = None,
        permissions: object | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Use a message context-menu command (Apps > name) on `target`."""
        context = self._context(guild=None, channel=target.channel, member=member)
        command = self._context_menu(name, MESSAGE_COMMAND, context.guild)
        resolver = Resolver(context)
        data = self._command_data(command, context)
        data["target_id"] = resolver.add_message(target)
        data["resolved"] = resolver.resolved
        return await self._send_interaction(
            APPLICATION_COMMAND, context, data, permissions=permissions, locale=locale
        )

    async def user_command(
        self,
        name: str,
        target: Member | User,
        *,
        member: Member | None = None,
        channel: Channel | None = None,
        permissions: object | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Use a user context-menu command on `target`."""
        context = self._context(guild=None, channel=channel, member=member)
        command = self._context_menu(name, USER_COMMAND, context.guild)
        resolver = Resolver(context)
        data = self._command_data(command, context)
        user = target.user if isinstance(target, Member) else target
        data["target_id"] = resolver.add_user(user, target if isinstance(target, Member) else None)
        data["resolved"] = resolver.resolved
        return await self._send_interaction(
            APPLICATION_COMMAND, context, data, permissions=permissions, locale=locale
        )

    async def click(
        self,
        message: Message,
        *,
        custom_id: str | None = None,
        label: str | None = None,
        member: Member | None = None,
        permissions: object | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Click a button on `message`, found by `custom_id` or `label`."""
        button = message.find_component(custom_id=custom_id, label=label, type=2)
        if button.get("disabled"):
            raise InvalidInvocation(f"button {button.get('label')!r} is disabled")
        if button.get("style") == 5 or "custom_id" not in button:
            raise InvalidInvocation("link buttons do not send interactions")
        return await self._component(
            message,
            {"custom_id": button["custom_id"], "component_type": 2},
            member=member,
            permissions=permissions,
            locale=locale,
        )

    async def select(
        self,
        message: Message,
        values: Iterable[Any],
        *,
        custom_id: str | None = None,
        member: Member | None = None,
        permissions: object | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Choose `values` in a select menu on `message` (string values, or objects for
        user/role/channel/mentionable selects)."""
        menus = [c for c in message.iter_components() if c.get("type") in (3, 5, 6, 7, 8)]
        if custom_id is not None:
            menus = [c for c in menus if c.get("custom_id") == custom_id]
        if len(menus) != 1:
            raise InvalidInvocation(f"{len(menus)} select menus match custom_id={custom_id!r}")
        menu = menus[0]
        chosen = list(values)
        low, high = menu.get("min_values", 1), menu.get("max_values", 1)
        if not low <= len(chosen) <= high:
            raise InvalidInvocation(f"choose between {low} and {high} values, not {len(chosen)}")
        context = self._context(guild=None, channel=message.channel, member=member)
        data: dict[str, Any] = {"custom_id": menu["custom_id"], "component_type": menu["type"]}
        if menu["type"] == 3:
            allowed = {option["value"] for option in menu.get("options") or []}
            bad = [value for value in chosen if value not in allowed]
            if bad:
                raise InvalidInvocation(
                    f"{bad} are not options of the menu; it has {sorted(allowed)}"
                )
            data["values"] = [str(value) for value in chosen]
        else:
            resolver = Resolver(context)
            data["values"] = [self._resolve_select_value(menu["type"], v, resolver) for v in chosen]
            data["resolved"] = resolver.resolved
        return await self._component(
            message, data, member=member, permissions=permissions, locale=locale, context=context
        )

    def _resolve_select_value(self, kind: int, value: Any, resolver: Resolver) -> str:
        if isinstance(value, Channel):
            return resolver.add_channel(value)
        if isinstance(value, Role):
            return resolver.add_role(value)
        if isinstance(value, Member):
            return resolver.add_user(value.user, value)
        if isinstance(value, User):
            return resolver.add_user(value, None)
        raise InvalidInvocation(
            f"select type {kind} needs Channel/Role/Member objects, got {value!r}"
        )

    async def _component(
        self,
        message: Message,
        data: dict[str, Any],
        *,
        member: Member | None,
        permissions: object | None,
        locale: str,
        context: CommandContext | None = None,
    ) -> InteractionHandle:
        if message.deleted:
            raise InvalidInvocation("the message was deleted")
        context = context or self._context(guild=None, channel=message.channel, member=member)
        return await self._send_interaction(
            MESSAGE_COMPONENT,
            context,
            data,
            permissions=permissions,
            locale=locale,
            message=message,
        )

    async def submit_modal(
        self,
        opened_by: InteractionHandle,
        values: Mapping[str, Any],
        *,
        member: Member | None = None,
        permissions: object | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Fill in and submit the modal the bot answered `opened_by` with.

        `values` maps each input's custom_id to its text (or a list for selects inside
        labels). Inputs left out are sent empty; required inputs must be given.
        """
        modal = opened_by.modal
        if modal is None:
            raise InvalidInvocation(f"{opened_by!r} was not answered with a modal")
        unknown = set(values) - {
            c.get("custom_id") for c in _walk_modal_inputs(modal["components"])
        }
        if unknown:
            raise InvalidInvocation(f"the modal has no inputs {sorted(unknown)}")
        components = [_submitted(component, values) for component in modal["components"]]
        context = CommandContext(
            guild=opened_by.guild,
            channel=opened_by.channel,
            member=member or opened_by.member,
            user=(member.user if member else opened_by.user),
        )
        data = {"custom_id": modal["custom_id"], "components": components}
        return await self._send_interaction(
            MODAL_SUBMIT,
            context,
            data,
            permissions=permissions,
            locale=locale,
            message=opened_by.source_message,
        )

    async def post_user_message(
        self,
        channel: Channel,
        member: Member,
        content: str,
        *,
        attachments: Iterable[Attachment] = (),
    ) -> Message:
        """A message a user posts (MESSAGE_CREATE, for bots with the guild-messages intent)."""
        attached = list(attachments)
        payload: dict[str, Any] = {
            "id": str(new_snowflake()),
            "channel_id": str(channel.id),
            "author": member.user.payload(),
            "content": content,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.payload() for a in attached],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        message = Message(payload=payload, channel=channel, attachments_stored=attached)
        self.messages_by_id[message.id] = message
        channel.last_message_id = message.id
        data = dict(payload)
        bot_mentioned = f"<@{self.bot_user.id}>" in content
        guild_id = channel.guild.id if channel.guild is not None else None
        for session in self.gateway.live_sessions:
            if not session.ready or not session.wants(self.INTENT_GUILD_MESSAGES):
                continue
            if not session.routes(guild_id):
                continue
            event = dict(data)
            if not session.wants(self.INTENT_MESSAGE_CONTENT) and not bot_mentioned:
                event.update({"content": "", "embeds": [], "attachments": [], "components": []})
            if channel.guild is not None:
                event["guild_id"] = str(channel.guild.id)
                event["member"] = member.payload(with_user=False)
            session.dispatch("MESSAGE_CREATE", event)
        self._notify()
        return message

    # -- gateway control -----------------------------------------------------------------------

    async def drop_connection(self, code: int = 4000, *, shard_id: int | None = None) -> None:
        """Close the bot's websockets (or shard `shard_id`'s; 4000 = resumable); it
        reconnects and RESUMEs."""
        await self.gateway.drop_connections(code, shard_id=shard_id)

    async def stop_gateway(self) -> None:
        """A gateway outage: every websocket is closed and new ones are refused (503) until
        `start_gateway()`; REST keeps answering."""
        self.gateway.available = False
        await self.gateway.drop_connections(4000)
        self._notify()

    def start_gateway(self) -> None:
        """The gateway is back: clients connect again (RESUME or IDENTIFY)."""
        self.gateway.available = True
        self._notify()

    def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client closes and resumes on resume_gateway_url."""
        self.gateway.send_op(OP_RECONNECT)

    def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; unless resumable the client identifies afresh."""
        self.gateway.invalidate_sessions(resumable=resumable)

    # -- reading back --------------------------------------------------------------------------

    def messages(self, channel: Channel, *, include_ephemeral: bool = False) -> list[Message]:
        """Messages in `channel`, oldest first, without deleted ones (nor ephemeral by default)."""
        return [
            m
            for m in self.messages_by_id.values()
            if m.channel is channel and not m.deleted and (include_ephemeral or not m.ephemeral)
        ]

    def pins(self, channel: Channel) -> list[Message]:
        pinned = [m for m in self.messages(channel) if m.pinned]
        return sorted(pinned, key=lambda m: self._pinned_at[m.id], reverse=True)

    def requests_matching(self, pattern: str) -> list[RequestRecord]:
        """REST requests whose method and path match `pattern` (see faults.RoutePattern)."""
        route = RoutePattern.parse(pattern)
        return [r for r in self.requests if route.matches(r.method, r.path)]

    def take_violations(self) -> list[str]:
        """Return and clear the recorded violations (for tests that provoke them on purpose)."""
        found, self.violations = self.violations, []
        return found

    def assert_no_violations(self) -> None:
        if self.violations:
            listing = "\n  ".join(self.violations)
            raise AssertionError(
                f"the bot sent {len(self.violations)} request(s) Discord would reject:\n  {listing}"
            )

    def describe_recent(self, count: int = 15) -> str:
        lines = [f"  {r.method} {r.path} -> {r.status}" for r in self.requests[-count:]]
        return "last requests:\n" + ("\n".join(lines) or "  (none)")

    # -- waiting -----------------------------------------------------------------------------

    async def wait_for(
        self,
        # Called with no arguments; `...` lets tests bind loop values as lambda defaults.
        predicate: Callable[..., Any],
        *,
        timeout: float = 5.0,
        description: str | Callable[[], str] = "condition",
    ) -> Any:
        """Wait until `predicate()` returns something truthy and return it; raise TimeoutError
        with context after `timeout` s.

        The predicate is re-checked on every change the emulator sees, and every
        `poll_interval` s too, so it may also look at the bot's own state.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                text = description() if callable(description) else description
                raise TimeoutError(
                    f"timed out after {timeout} s waiting for {text}\n{self.describe_recent()}"
                )
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, timeout=min(remaining, self.poll_interval))

    async def wait_until_connected(
        self, timeout: float = 10.0, *, guild: Guild | None = None
    ) -> GatewaySession:
        """A gateway session that identified and got READY and its GUILD_CREATEs (with
        `guild`: one whose shard gets that guild's events)."""
        if guild is None:
            return await self.wait_for(
                lambda: _newest(self.gateway.connected_sessions),
                timeout=timeout,
                description="the bot to connect to the gateway",
            )
        return await self.wait_for(
            lambda: _newest(self.gateway.connected_for(guild.id)),
            timeout=timeout,
            description=f"a connected shard of the bot that gets {guild!r}",
        )

    async def wait_for_shards(
        self, shard_ids: Iterable[int], shard_count: int, *, timeout: float = 10.0
    ) -> list[GatewaySession]:
        """Connected sessions for each of `shard_ids` of `shard_count` (one each, newest)."""
        wanted = list(shard_ids)

        def found() -> list[GatewaySession] | None:
            sessions = []
            for shard_id in wanted:
                matching = [
                    s for s in self.gateway.connected_sessions if s.shard == (shard_id, shard_count)
                ]
                if not matching:
                    return None
                sessions.append(matching[-1])
            return sessions

        return await self.wait_for(
            found, timeout=timeout, description=f"shards {wanted} of {shard_count} to connect"
        )

    async def wait_for_identify(self, count: int, timeout: float = 10.0) -> GatewaySession:
        """Wait for the `count`-th IDENTIFY overall (e.g. a restarted bot)."""
        return await self.wait_for(
            lambda: (
                self.gateway.sessions[count - 1]
                if len(self.gateway.sessions) >= count and self.gateway.sessions[count - 1].ready
                else None
            ),
            timeout=timeout,
            description=f"IDENTIFY #{count}",
        )

    async def wait_for_resume(self, count: int = 1, timeout: float = 10.0) -> GatewaySession:
        return await self.wait_for(
            lambda: next((s for s in self.gateway.sessions if s.resumes >= count), None),
            timeout=timeout,
            description=f"{count} RESUME(s)",
        )

    async def wait_for_commands(
        self, guild: Guild | None = None, *, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until the bot synced commands (to `guild`, or globally) and return them."""
        if guild is not None:
            return await self.wait_for(
                lambda: list(guild.commands.values()) if guild.commands_synced else None,
                timeout=timeout,
                description=f"a command sync to {guild!r}",
            )
        return await self.wait_for(
            lambda: list(self.global_commands.values()) if self.global_commands else None,
            timeout=timeout,
            description="a global command sync",
        )

    async def wait_for_request(
        self, pattern: str, *, count: int = 1, timeout: float = 5.0
    ) -> RequestRecord:
        """The `count`-th answered request matching `pattern` (e.g. "POST /channels/*/messages")."""

        def found() -> RequestRecord | None:
            matches = [r for r in self.requests_matching(pattern) if r.status is not None]
            return matches[count - 1] if len(matches) >= count else None

        return await self.wait_for(
            found, timeout=timeout, description=f"request {pattern!r} #{count}"
        )

    async def wait_for_message(
        self,
        channel: Channel,
        predicate: Callable[[Message], bool] | None = None,
        *,
        timeout: float = 5.0,
        include_ephemeral: bool = False,
    ) -> Message:
        """The first (oldest) message in `channel` matching `predicate`."""

        def found() -> Message | None:
            for message in self.messages(channel, include_ephemeral=include_ephemeral):
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_for(
            found, timeout=timeout, description=f"a message in #{channel.name}"
        )


def _walk_modal_inputs(components: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for component in components:
        if component.get("type") == 1:
            yield from _walk_modal_inputs(component.get("components") or [])
        elif component.get("type") == 18 and isinstance(component.get("component"), dict):
            yield from _walk_modal_inputs([component["component"]])
        elif "custom_id" in component:
            yield component


def _submitted(component: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """What the client sends back for one modal component, mirroring its structure."""
    kind = component.get("type")
    if kind == 1:
        return {
            "type": 1,
            "components": [_submitted(c, values) for c in component.get("components") or []],
        }
    if kind == 18:
        result: dict[str, Any] = {
            "type": 18,
            "component": _submitted(component["component"], values),
        }
        if "id" in component:
            result["id"] = component["id"]
        return result
    if kind == 10:
        return {"type": 10, "id": component.get("id", 0)}
    custom_id = component.get("custom_id")
    value = values.get(custom_id) if custom_id is not None else None
    if kind == 4:
        text = "" if value is None else str(value)
        if component.get("required", True) and not text:
            raise InvalidInvocation(f"the modal input {custom_id!r} is required")
        low, high = component.get("min_length"), component.get("max_length")
        if text and (
            (low is not None and len(text) < low) or (high is not None and len(text) > high)
        ):
            raise InvalidInvocation(
                f"input {custom_id!r}: length {len(text)} outside [{low}, {high}]"
            )
        return {"type": 4, "custom_id": custom_id, "value": text}
    chosen = [] if value is None else (list(value) if isinstance(value, list | tuple) else [value])
    return {
        "type": kind,
        "custom_id": custom_id,
        "values": [str(getattr(v, "id", v)) for v in chosen],
    }


def _newest(sessions: list[GatewaySession]) -> GatewaySession | None:
    return sessions[-1] if sessions else None
