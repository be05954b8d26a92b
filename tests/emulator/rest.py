"""The REST API v10 (under /api/v10) and the attachment server (under /attachments).

Every request goes through `RestApi.handle`: it is logged, injected faults apply first,
then the route is matched, auth checked, the body validated (Discord's OpenAPI spec plus
the documented limits), and finally the handler runs. Every JSON answer carries
`Content-Type: application/json` exactly, plus rate-limit headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.emulator import errors as codes
from tests.emulator import limits
from tests.emulator.errors import ApiError, FieldError
from tests.emulator.faults import RoutePattern
from tests.emulator.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    MESSAGE_COMMAND,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    PING,
    PONG,
    UPDATE_MESSAGE,
    InteractionHandle,
    InteractionResponse,
)
from tests.emulator.models import (
    Attachment,
    Channel,
    ChannelType,
    Message,
    Permission,
    iso_now,
    new_snowflake,
)

if TYPE_CHECKING:
    from tests.emulator.emulator import DiscordEmulator

JSON = "application/json"
EPHEMERAL = 1 << 6
# A message a thread was started from.
HAS_THREAD = 1 << 5
LOADING = 1 << 7
# Flags a bot may set on a message it sends.
SETTABLE_FLAGS = (1 << 2) | (1 << 12) | (1 << 15) | EPHEMERAL
MAX_PINS = 50


@dataclass
class UploadedFile:
    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class RequestRecord:
    """One REST request the bot made, as the emulator saw and answered it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    route: str | None = None
    json: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    status: int | None = None
    response: Any = None
    fault: str | None = None
    violations: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status}{' fault' if self.fault else ''}>"


def most_within(records: Iterable[RequestRecord], span: float) -> int:
    """The most of `records` the emulator took within any `span` seconds (a sliding
    window over their `at`)."""
    times = sorted(record.at for record in records)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= span:
            first += 1
        most = max(most, last - first + 1)
    return most


@dataclass
class Call:
    """What a route handler gets."""

    record: RequestRecord
    params: dict[str, str]
    body: Any
    files: list[UploadedFile]

    @property
    def query(self) -> dict[str, str]:
        return self.record.query

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true")


Handler = Callable[[Call], Awaitable[tuple[int, Any]]]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    auth: bool = True
    check: Callable[[Any], list[FieldError]] | None = None
    pattern: RoutePattern = field(init=False)

    def __post_init__(self) -> None:
        self.pattern = RoutePattern.parse(f"{self.method} {self.template}")
        regex = ""
        for part in self.template.strip("/").split("/"):
            if part.startswith("{"):
                regex += f"/(?P<{part[1:-1]}>[^/]+)"
            else:
                regex += "/" + re.escape(part)
        self._named = re.compile(regex)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self._named.fullmatch(path)
        return None if found is None else found.groupdict()


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    if status == 204 or data is None:
        return web.Response(status=204, headers=headers)
    body = json.dumps(data).encode()
    # content_type without charset: discord.py compares the header to "application/json".
    return web.Response(status=status, body=body, headers=headers, content_type=JSON)


class RestApi:
    def __init__(self, emulator: DiscordEmulator) -> None:
        self.emu = emulator
        self.routes: list[Route] = []
        self._buckets: dict[str, tuple[float, int]] = {}
        # The global limit's current window: when it ends (monotonic) and requests accepted.
        self._global_window: tuple[float, int] = (0.0, 0)
        self._register_routes()

    # -- plumbing ----------------------------------------------------------------------------

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        auth: bool = True,
        check: Callable[[Any], list[FieldError]] | None = None,
    ) -> None:
        self.routes.append(Route(method, template, handler, auth=auth, check=check))

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        path_known = False
        # Literal segments first: `/messages/pins` must not be read as a message id.
        for route in sorted(self.routes, key=_specificity, reverse=True):
            params = route.match(method, path)
            if params is not None:
                return route, params, True
            if route._named.fullmatch(path):
                path_known = True
        return None, {}, path_known

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info.get("tail", "")
        record = RequestRecord(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
        )
        self.emu.requests.append(record)
        try:
            status, data, headers = await self._process(request, record)
        except ApiError as error:
            status, data, headers = error.status, error.body(), dict(error.headers)
        record.status = status
        record.response = data
        if status != 429:
            headers = {**self._rate_limit_headers(record), **headers}
        self.emu._notify()
        return json_response(status, data, headers)

    async def _process(
        self, request: web.Request, record: RequestRecord
    ) -> tuple[int, Any, dict[str, str]]:
        body, files = await self._read_body(request)
        record.json, record.files = body, files
        limited = self._global_rate_limit(request, record)
        if limited is not None:
            return limited
        delay, reply_delay, fault = self.emu.faults.take(record.method, record.path)
        if delay:
            await asyncio.sleep(delay)
        if fault is not None:
            record.fault = fault.kind
            return fault.status, fault.body, dict(fault.headers)
        route, params, path_known = self._match(record.method, record.path)
        spec = self.emu.spec
        if spec is not None and spec.find_operation(record.method, record.path) is None:
            self._violation(record, f"no {record.method} {record.path} in Discord's API spec")
        if route is None:
            if path_known:
                return 405, {"message": "405: Method Not Allowed", "code": 0}, {}
            return 404, {"message": "404: Not Found", "code": 0}, {}
        record.route = route.template
        if route.auth and request.headers.get("Authorization") != f"Bot {self.emu.token}":
            return 401, {"message": "401: Unauthorized", "code": 0}, {}
        field_errors = self._validate(record, route, body)
        if field_errors:
            for error in field_errors:
                self._violation(record, error.describe())
            raise codes.invalid_form_body(field_errors)
        status, data = await route.handler(Call(record, params, body, files))
        if reply_delay:
            self.emu._notify()  # what the handler did (a message created) is visible now
            await asyncio.sleep(reply_delay)
        return status, data, {}

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        if not request.can_read_body:
            return None, []
        if request.content_type == "multipart/form-data":
            body: Any = None
            files: list[UploadedFile] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = await part.read()  # type: ignore[union-attr]
                name = part.name or ""  # type: ignore[union-attr]
                if name == "payload_json":
                    body = _parse_json(bytes(data))
                else:
                    files.append(
                        UploadedFile(
                            field=name,
                            filename=part.filename or name,  # type: ignore[union-attr]
                            content_type=part.headers.get("Content-Type"),
                            data=bytes(data),
                        )
                    )
            return body, files
        raw = await request.read()
        if not raw:
            return None, []
        return _parse_json(raw), []

    def _validate(self, record: RequestRecord, route: Route, body: Any) -> list[FieldError]:
        errors: list[FieldError] = []
        spec = self.emu.spec
        if body is not None and spec is not None:
            operation = spec.find_operation(record.method, record.path)
            if operation is not None:
                errors.extend(operation.validate(body))
        if route.check is not None and body is not None:
            known = set(errors)
            errors.extend(error for error in route.check(body) if error not in known)
        return errors

    def _violation(self, record: RequestRecord, text: str) -> None:
        record.violations.append(text)
        self.emu.violations.append(f"{record.method} {record.path}: {text}")

    def _global_rate_limit(
        self, request: web.Request, record: RequestRecord
    ) -> tuple[int, Any, dict[str, str]] | None:
        """A global 429 when the bot made `global_rate_limit` requests in the current window.

        Opt-in (`emu.global_rate_limit = 50`). Counts what Discord counts: requests made with
        the bot token, not interaction callbacks or webhooks; refused requests do not count.
        Windows are fixed, as for the per-route buckets: the first request opens one, and a
        refused request is told to retry when it ends, when the whole allowance is back (a
        sliding window would free one slot at a time and starve a herd of waiting requests).
        """
        limit = self.emu.global_rate_limit
        if limit is None or record.path.startswith(("/interactions/", "/webhooks/")):
            return None
        if request.headers.get("Authorization") != f"Bot {self.emu.token}":
            return None
        now = time.monotonic()
        window_end, used = self._global_window
        if now >= window_end:
            window_end, used = now + self.emu.global_rate_limit_window, 0
        if used < limit:
            self._global_window = (window_end, used + 1)
            return None
        retry_after = round(max(window_end - now, 0.001), 3)
        record.fault = "global_rate_limit"
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Global": "true",
            "X-RateLimit-Scope": "global",
            "Via": "1.1 google",
        }
        message = "You are being rate limited."
        return 429, {"message": message, "retry_after": retry_after, "global": True}, headers

    def _rate_limit_headers(self, record: RequestRecord) -> dict[str, str]:
        """Per-route buckets with a generous limit, so the client never has to wait."""
        template = record.route or record.path
        bucket = hashlib.sha1(f"{record.method} {template}".encode()).hexdigest()[:16]
        key = f"{bucket}:{record.path}"
        now = time.time()
        window_end, used = self._buckets.get(key, (0.0, 0))
        if now >= window_end:
            window_end, used = now + self.emu.rate_limit_window, 0
        used += 1
        self._buckets[key] = (window_end, used)
        limit = self.emu.rate_limit_per_window
        return {
            "X-RateLimit-Bucket": bucket,
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": f"{window_end:.3f}",
            "X-RateLimit-Reset-After": f"{max(window_end - now, 0.0):.3f}",
        }

    # -- lookups -----------------------------------------------------------------------------

    def channel(self, channel_id: str) -> Channel:
        channel = self.emu.channels_by_id.get(_int(channel_id))
        if channel is None or channel.deleted:
            raise codes.not_found(codes.UNKNOWN_CHANNEL)
        if channel.forbidden_code is not None:
            raise codes.forbidden(channel.forbidden_code)
        if channel.guild is not None:
            perms = channel.guild.bot_member.permissions_in(channel)
            if not perms & Permission.VIEW_CHANNEL:
                raise codes.forbidden(codes.MISSING_ACCESS)
        return channel

    def message(self, channel: Channel, message_id: str) -> Message:
        message = self.emu.messages_by_id.get(_int(message_id))
        if (
            message is None
            or message.deleted
            or message.channel is not channel
            or message.ephemeral
        ):
            raise codes.not_found(codes.UNKNOWN_MESSAGE)
        return message

    def require(self, channel: Channel, permission: int) -> None:
        if channel.guild is None:
            return
        if not channel.guild.bot_member.permissions_in(channel) & permission:
            raise codes.forbidden(codes.MISSING_PERMISSIONS)

    def interaction_by_token(self, application_id: str, token: str) -> InteractionHandle:
        handle = self.emu.interactions_by_token.get(token)
        if handle is None or _int(application_id) != self.emu.application_id:
            raise codes.not_found(codes.UNKNOWN_WEBHOOK)
        if not handle.acknowledged:
            raise codes.not_found(codes.UNKNOWN_WEBHOOK)
        return handle

    # -- routes ------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        add = self.add
        add("GET", "/users/@me", self.get_me)
        add("GET", "/users/{user_id}", self.get_user)
        add("POST", "/users/@me/channels", self.create_dm)
        add("GET", "/oauth2/applications/@me", self.get_application)
        add("GET", "/applications/@me", self.get_application)
        add("GET", "/gateway", self.get_gateway, auth=False)
        add("GET", "/gateway/bot", self.get_gateway_bot)
        for base in ("/applications/{app}/commands", "/applications/{app}/guilds/{guild}/commands"):
            add("GET", base, self.list_commands)
            add("PUT", base, self.overwrite_commands, check=limits.check_commands)
            add("POST", base, self.create_command, check=lambda b: limits.check_commands([b]))
            add("GET", base + "/{command_id}", self.get_command)
            add("PATCH", base + "/{command_id}", self.edit_command)
            add("DELETE", base + "/{command_id}", self.delete_command)
        add(
            "POST",
            "/interactions/{interaction_id}/{token}/callback",
            self.interaction_callback,
            auth=False,
            check=limits.check_interaction_callback,
        )
        webhook = "/webhooks/{app}/{token}"
        add("POST", webhook, self.followup_create, auth=False, check=limits.check_message)
        for message in ("/messages/@original", "/messages/{message_id}"):
            add("GET", webhook + message, self.webhook_message_get, auth=False)
            add(
                "PATCH",
                webhook + message,
                self.webhook_message_edit,
                auth=False,
                check=limits.check_message,
            )
            add("DELETE", webhook + message, self.webhook_message_delete, auth=False)
        add("GET", "/channels/{channel_id}", self.get_channel)
        add("PATCH", "/channels/{channel_id}", self.edit_channel)
        add("DELETE", "/channels/{channel_id}", self.delete_channel)
        add("GET", "/channels/{channel_id}/messages", self.list_messages)
        add(
            "POST",
            "/channels/{channel_id}/messages",
            self.create_message,
            check=limits.check_message,
        )
        add("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        add(
            "PATCH",
            "/channels/{channel_id}/messages/{message_id}",
            self.edit_message,
            check=limits.check_message,
        )
        add("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        add("POST", "/channels/{channel_id}/messages/bulk-delete", self.bulk_delete)
        add("POST", "/channels/{channel_id}/typing", self.typing)
        for pins in ("/channels/{channel_id}/pins", "/channels/{channel_id}/messages/pins"):
            add("PUT", pins + "/{message_id}", self.pin)
            add("DELETE", pins + "/{message_id}", self.unpin)
        add("GET", "/channels/{channel_id}/pins", self.list_pins_legacy)
        add("GET", "/channels/{channel_id}/messages/pins", self.list_pins)
        add(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/threads",
            self.start_thread_from_message,
            check=limits.check_thread_create,
        )
        add(
            "POST",
            "/channels/{channel_id}/threads",
            self.start_thread,
            check=limits.check_thread_create,
        )
        add("GET", "/channels/{channel_id}/threads/archived/public", self.get_archived_threads)
        add("PUT", "/channels/{channel_id}/thread-members/@me", self.join_thread)
        add("DELETE", "/channels/{channel_id}/thread-members/@me", self.leave_thread)
        reaction = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"
        add("PUT", reaction, self.add_reaction)
        add("DELETE", reaction, self.remove_reaction)
        add("GET", "/guilds/{guild_id}", self.get_guild)
        add("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        add("GET", "/guilds/{guild_id}/roles", self.get_guild_roles)
        add("GET", "/guilds/{guild_id}/members/{user_id}", self.get_guild_member)
        add("GET", "/guilds/{guild_id}/threads/active", self.get_active_threads)

    # -- identity ----------------------------------------------------------------------------

    async def get_me(self, call: Call) -> tuple[int, Any]:
        data = self.emu.bot_user.payload()
        data.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
        return 200, data

    async def get_user(self, call: Call) -> tuple[int, Any]:
        user = self.emu.users.get(_int(call.params["user_id"]))
        if user is None:
            raise codes.not_found(codes.UNKNOWN_USER)
        return 200, user.payload()

    async def create_dm(self, call: Call) -> tuple[int, Any]:
        recipient = self.emu.users.get(_int((call.body or {}).get("recipient_id")))
        if recipient is None:
            raise codes.not_found(codes.UNKNOWN_USER)
        return 200, self.emu.dm_channel(recipient).payload()

    async def get_application(self, call: Call) -> tuple[int, Any]:
        return 200, self.emu.application_payload()

    async def get_gateway(self, call: Call) -> tuple[int, Any]:
        return 200, {"url": self.emu.gateway_url}

    async def get_gateway_bot(self, call: Call) -> tuple[int, Any]:
        return 200, self.emu.gateway_bot_payload()

    # -- application commands ----------------------------------------------------------------

    def _command_store(self, call: Call) -> tuple[dict[int, dict[str, Any]], int | None]:
        if _int(call.params["app"]) != self.emu.application_id:
            raise ApiError(
                403, 20012, "You are not authorized to perform this action on this application"
            )
        if "guild" not in call.params:
            return self.emu.global_commands, None
        guild = self.emu.guilds_by_id.get(_int(call.params["guild"]))
        if guild is None:
            # Discord answers this for a guild the bot is not in (or that does not exist).
            raise codes.forbidden(codes.MISSING_ACCESS)
        return guild.commands, guild.id

    def _stored_command(
        self, body: dict[str, Any], guild_id: int | None, existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        kind = body.get("type") or 1
        permissions = body.get("default_member_permissions")
        command: dict[str, Any] = {
            "id": existing["id"] if existing else str(new_snowflake()),
            "application_id": str(self.emu.application_id),
            "version": str(new_snowflake()),
            "type": kind,
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description") or "",
            "description_localizations": body.get("description_localizations"),
            "default_member_permissions": None if permissions is None else str(permissions),
            "dm_permission": body.get("dm_permission", True),
            "nsfw": bool(body.get("nsfw")),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
        }
        if body.get("options"):
            command["options"] = body["options"]
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        return command

    async def list_commands(self, call: Call) -> tuple[int, Any]:
        store, _ = self._command_store(call)
        return 200, list(store.values())

    async def overwrite_commands(self, call: Call) -> tuple[int, Any]:
        store, guild_id = self._command_store(call)
        by_key = {(c["name"], c["type"]): c for c in store.values()}
        fresh: dict[int, dict[str, Any]] = {}
        for body in call.body or []:
            existing = by_key.get((body["name"], body.get("type") or 1))
            command = self._stored_command(body, guild_id, existing)
            fresh[int(command["id"])] = command
        store.clear()
        store.update(fresh)
        self.emu._commands_synced(guild_id)
        return 200, list(store.values())

    async def create_command(self, call: Call) -> tuple[int, Any]:
        store, guild_id = self._command_store(call)
        body = call.body or {}
        existing = next(
            (
                c
                for c in store.values()
                if (c["name"], c["type"]) == (body["name"], body.get("type") or 1)
            ),
            None,
        )
        command = self._stored_command(body, guild_id, existing)
        store[int(command["id"])] = command
        self.emu._commands_synced(guild_id)
        return (200 if existing else 201), command

    def _find_command(self, call: Call) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
        store, _ = self._command_store(call)
        command = store.get(_int(call.params["command_id"]))
        if command is None:
            raise codes.not_found(codes.UNKNOWN_APPLICATION_COMMAND)
        return store, command

    async def get_command(self, call: Call) -> tuple[int, Any]:
        return 200, self._find_command(call)[1]

    async def edit_command(self, call: Call) -> tuple[int, Any]:
        _store, command = self._find_command(call)
        command.update({k: v for k, v in (call.body or {}).items() if k != "id"})
        command["version"] = str(new_snowflake())
        return 200, command

    async def delete_command(self, call: Call) -> tuple[int, Any]:
        store, command = self._find_command(call)
        del store[int(command["id"])]
        return 204, None

    # -- messages (shared by channels, callbacks and webhooks) -------------------------------

    def new_message(
        self,
        channel: Channel,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        interaction: InteractionHandle | None = None,
        extra_flags: int = 0,
        record: RequestRecord | None = None,
        message_id: int | None = None,
    ) -> Message:
        flags = (int(body.get("flags") or 0) & SETTABLE_FLAGS) | extra_flags
        if interaction is None:
            flags &= ~EPHEMERAL
        message_id = new_snowflake() if message_id is None else message_id
        attachments = self._attachments(
            channel, message_id, body, files, [], bool(flags & EPHEMERAL)
        )
        payload: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel.id),
            "author": self.emu.bot_user.payload(),
            "content": body.get("content") or "",
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.payload() for a in attachments],
            "embeds": self._embeds_with_attachments(body.get("embeds") or [], attachments, record),
            "pinned": False,
            "type": 0,
            "flags": flags,
            "components": body.get("components") or [],
        }
        if body.get("nonce") is not None:
            payload["nonce"] = body["nonce"]
        if body.get("message_reference"):
            payload["message_reference"] = {
                "type": 0,
                "channel_id": str(channel.id),
                **{k: str(v) for k, v in body["message_reference"].items() if k.endswith("_id")},
            }
            payload["type"] = 19
        if interaction is not None:
            payload["webhook_id"] = str(self.emu.application_id)
            payload["application_id"] = str(self.emu.application_id)
            payload["interaction_metadata"] = _interaction_metadata(interaction)
            data = interaction.payload.get("data") or {}
            if interaction.type == APPLICATION_COMMAND:
                payload["type"] = 23 if data.get("type", 1) != 1 else 20
                payload["interaction"] = {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "name": data.get("name", ""),
                    "user": interaction.user.payload(),
                }
        message = Message(
            payload=payload,
            channel=channel,
            attachments_stored=attachments,
            interaction_id=interaction.id if interaction else None,
        )
        self.emu.messages_by_id[message.id] = message
        channel.last_message_id = message.id
        channel.message_count += 1
        if not message.ephemeral:
            self.emu._message_event("MESSAGE_CREATE", message)
        return message

    def _attachments(
        self,
        channel: Channel,
        message_id: int,
        body: dict[str, Any],
        files: list[UploadedFile],
        current: list[Attachment],
        ephemeral: bool,
    ) -> list[Attachment]:
        """Kept attachments (listed by id in `attachments`) plus the uploaded files."""
        for upload in files:
            if len(upload.data) > self.emu.upload_size_limit:
                raise ApiError(413, codes.REQUEST_ENTITY_TOO_LARGE)
        by_field = {upload.field: upload for upload in files}
        listed = body.get("attachments")
        result: list[Attachment] = []
        uploads: list[tuple[UploadedFile, dict[str, Any] | None]]
        if listed is None:
            result = list(current)
            uploads = [(upload, None) for upload in files]
        else:
            current_by_id = {a.id: a for a in current}
            uploads = []
            used: set[str] = set()
            for entry in listed:
                entry_id = entry.get("id")
                listed_upload = by_field.get(f"files[{entry_id}]")
                if listed_upload is not None and _int(entry_id) not in current_by_id:
                    uploads.append((listed_upload, entry))
                    used.add(listed_upload.field)
                elif _int(entry_id) in current_by_id:
                    result.append(current_by_id[_int(entry_id)])
            # Files not described in `attachments` are still attached, as Discord does.
            uploads += [(u, None) for u in files if u.field not in used]
        for upload, entry in uploads:
            filename = (entry or {}).get("filename") or upload.filename
            # Discord decides a file's type itself; clients send application/octet-stream.
            content_type = upload.content_type
            if content_type in (None, "application/octet-stream"):
                content_type = None
            result.append(
                self.emu.store_attachment(
                    filename,
                    upload.data,
                    content_type=content_type,
                    description=(entry or {}).get("description"),
                    ephemeral=ephemeral,
                )
            )
        if len(result) > 10:
            raise codes.invalid_form_body(
                [
                    FieldError(
                        ("attachments",), "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
                    )
                ]
            )
        return result

    def edit_stored_message(
        self,
        message: Message,
        body: dict[str, Any],
        files: list[UploadedFile],
        *,
        record: RequestRecord | None = None,
    ) -> Message:
        payload = message.payload
        if "content" in body:
            payload["content"] = body["content"] or ""
        if "components" in body:
            payload["components"] = body["components"] or []
        if body.get("flags") is not None:
            kept = payload["flags"] & EPHEMERAL
            payload["flags"] = (int(body["flags"]) & SETTABLE_FLAGS & ~EPHEMERAL) | kept
        if "attachments" in body or files:
            message.attachments_stored = self._attachments(
                message.channel,
                message.id,
                body,
                files,
                message.attachments_stored,
                message.ephemeral,
            )
            payload["attachments"] = [a.payload() for a in message.attachments_stored]
        if "embeds" in body:
            payload["embeds"] = self._embeds_with_attachments(
                body["embeds"] or [], message.attachments_stored, record
            )
        self._check_embeds_show_kept_files(message, record)
        payload["flags"] = payload["flags"] & ~LOADING
        payload["edited_timestamp"] = iso_now()
        message.edits += 1
        if not message.ephemeral:
            self.emu._message_event("MESSAGE_UPDATE", message)
        return message

    def _embeds_with_attachments(
        self,
        embeds: list[Any],
        attachments: list[Attachment],
        record: RequestRecord | None,
    ) -> list[Any]:
        """Embeds as Discord stores them: `attachment://name` images resolved to the file of
        that name among the message's attachments (its URL, proxy URL and size).

        Discord's docs only describe referencing a file uploaded with the message, with an
        image extension (.jpg, .jpeg, .png, .webp, .gif); a reference to a file the message
        does not have, or to a non-image, shows no image. The emulator records either as a
        violation: a bot never means to send one."""
        by_name = {attachment.filename: attachment for attachment in attachments}
        resolved = []
        for index, embed in enumerate(embeds):
            embed = _normalize_embed(embed)
            if isinstance(embed, dict):
                for key in ("image", "thumbnail"):
                    media = embed.get(key)
                    if not isinstance(media, dict):
                        continue
                    url = media.get("url")
                    if not isinstance(url, str) or not url.startswith(ATTACHMENT_SCHEME):
                        continue
                    name = url[len(ATTACHMENT_SCHEME) :]
                    attachment = by_name.get(name)
                    where = f"embeds[{index}].{key}.url {url!r}"
                    if attachment is None:
                        self._record_violation(record, f"{where}: the message has no such file")
                        continue
                    if not name.lower().endswith(EMBEDDABLE_IMAGE_EXTENSIONS):
                        self._record_violation(
                            record, f"{where}: only .jpg, .jpeg, .png, .webp and .gif show"
                        )
                        continue
                    embed[key] = {**media, **attachment.embed_media()}
            resolved.append(embed)
        return resolved

    def _check_embeds_show_kept_files(self, message: Message, record: RequestRecord | None) -> None:
        """After an edit, an embed still showing a file the edit removed shows nothing."""
        kept = {attachment.url for attachment in message.attachments_stored}
        for index, embed in enumerate(message.payload.get("embeds") or []):
            for key in ("image", "thumbnail"):
                media = embed.get(key) if isinstance(embed, dict) else None
                url = media.get("url") if isinstance(media, dict) else None
                stored = isinstance(url, str) and url.startswith(self.emu.attachment_base_url)
                if stored and url not in kept:
                    self._record_violation(
                        record,
                        f"embeds[{index}].{key} shows a file this edit removed from the message",
                    )

    def _record_violation(self, record: RequestRecord | None, text: str) -> None:
        if record is not None:
            self._violation(record, text)
        else:
            self.emu.violations.append(text)

    def delete_stored_message(self, message: Message) -> None:
        message.deleted = True
        if not message.ephemeral:
            data = {"id": str(message.id), "channel_id": str(message.channel.id)}
            if message.channel.guild is not None:
                data["guild_id"] = str(message.channel.guild.id)
            self.emu._broadcast("MESSAGE_DELETE", data, intent=self.emu.INTENT_GUILD_MESSAGES)

    def _check_sendable(
        self, channel: Channel, body: dict[str, Any], files: list[UploadedFile]
    ) -> None:
        if channel.is_forum:
            # A forum holds posts (threads), never messages of its own.
            raise ApiError(400, codes.CANNOT_SEND_IN_NON_TEXT_CHANNEL)
        if channel.type not in ChannelType.MESSAGEABLE:
            raise ApiError(400, codes.CANNOT_EXECUTE_ON_CHANNEL_TYPE)
        needed = (
            Permission.SEND_MESSAGES_IN_THREADS if channel.is_thread else Permission.SEND_MESSAGES
        )
        self.require(channel, needed)
        if files:
            self.require(channel, Permission.ATTACH_FILES)
        if channel.is_thread and channel.archived:
            if channel.locked:
                raise ApiError(400, codes.THREAD_ARCHIVED)
            # Sending to an archived (unlocked) thread unarchives it.
            channel.archived = False
            self.emu._thread_event("THREAD_UPDATE", channel)
        if not (
            body.get("content")
            or body.get("embeds")
            or body.get("components")
            or body.get("sticker_ids")
            or body.get("poll")
            or files
        ):
            raise ApiError(400, codes.CANNOT_SEND_EMPTY_MESSAGE)

    # -- channels and their messages ---------------------------------------------------------

    async def get_channel(self, call: Call) -> tuple[int, Any]:
        return 200, self.channel(call.params["channel_id"]).payload()

    async def edit_channel(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        body = call.body or {}
        if channel.is_thread:
            is_owner = channel.owner_id == self.emu.bot_user.id
            if not is_owner or "locked" in body:
                self.require(channel, Permission.MANAGE_THREADS)
            for key in ("name", "archived", "locked", "auto_archive_duration", "invitable"):
                if key in body:
                    setattr(channel, key, body[key])
            if "archived" in body:
                channel.archive_timestamp = iso_now()
            if "rate_limit_per_user" in body:
                channel.rate_limit_per_user = int(body["rate_limit_per_user"] or 0)
            self.emu._thread_event("THREAD_UPDATE", channel)
        else:
            self.require(channel, Permission.MANAGE_CHANNELS)
            for key in ("name", "topic", "nsfw", "position", "rate_limit_per_user"):
                if key in body:
                    setattr(channel, key, body[key])
            if "parent_id" in body:
                channel.parent_id = _int(body["parent_id"]) if body["parent_id"] else None
            if "permission_overwrites" in body:
                channel.permission_overwrites = [
                    {
                        **o,
                        "id": str(o["id"]),
                        "allow": str(o.get("allow", 0)),
                        "deny": str(o.get("deny", 0)),
                    }
                    for o in body["permission_overwrites"] or []
                ]
            self.emu._broadcast("CHANNEL_UPDATE", channel.payload(), intent=self.emu.INTENT_GUILDS)
        return 200, channel.payload()

    async def delete_channel(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        if channel.guild is None:
            return 200, channel.payload()
        self.require(
            channel, Permission.MANAGE_THREADS if channel.is_thread else Permission.MANAGE_CHANNELS
        )
        channel.guild.remove_channel(channel)
        return 200, channel.payload()

    async def list_messages(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        self.require(channel, Permission.READ_MESSAGE_HISTORY)
        limit = max(1, min(100, int(call.query.get("limit", 50))))
        messages = self.emu.messages(channel)
        if "before" in call.query:
            messages = [m for m in messages if m.id < int(call.query["before"])]
        if "after" in call.query:
            messages = [m for m in messages if m.id > int(call.query["after"])]
            messages = messages[:limit]
        if "around" in call.query:
            around = int(call.query["around"])
            older = [m for m in messages if m.id <= around][-((limit + 1) // 2) :]
            newer = [m for m in messages if m.id > around][: limit // 2]
            messages = older + newer
        messages = messages[-limit:]
        return 200, [m.payload for m in reversed(messages)]

    async def create_message(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        body = call.body or {}
        self._check_sendable(channel, body, call.files)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            earlier = self.emu._nonce_lookup(channel, nonce)
            if earlier is not None:
                return 200, earlier.payload
        message = self.new_message(channel, body, call.files, record=call.record)
        if nonce is not None and body.get("enforce_nonce"):
            self.emu._nonce_remember(channel, nonce, message)
        return 200, message.payload

    async def get_message(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        self.require(channel, Permission.READ_MESSAGE_HISTORY)
        message = self.message(channel, call.params["message_id"])
        # The thread started from the message, as it is now (Discord's `thread` field).
        thread = self.emu.channels_by_id.get(message.id)
        if thread is not None and thread.is_thread and thread.parent_id == channel.id:
            if thread.deleted:
                message.payload.pop("thread", None)
            else:
                message.payload["thread"] = thread.payload()
        return 200, message.payload

    async def edit_message(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        message = self.message(channel, call.params["message_id"])
        body = call.body or {}
        if message.author_id != self.emu.bot_user.id:
            # Others' messages: only the SUPPRESS_EMBEDS flag may change.
            if set(body) - {"flags"}:
                raise codes.forbidden(codes.CANNOT_EDIT_OTHERS_MESSAGE)
            self.require(channel, Permission.MANAGE_MESSAGES)
        return 200, self.edit_stored_message(message, body, call.files, record=call.record).payload

    async def delete_message(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        message = self.message(channel, call.params["message_id"])
        if message.author_id != self.emu.bot_user.id:
            self.require(channel, Permission.MANAGE_MESSAGES)
        self.delete_stored_message(message)
        return 204, None

    async def bulk_delete(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        self.require(channel, Permission.MANAGE_MESSAGES)
        ids = (call.body or {}).get("messages") or []
        if not 2 <= len(ids) <= 100:
            raise codes.invalid_form_body(
                [
                    FieldError(
                        ("messages",),
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 2 and 100 in length.",
                    )
                ]
            )
        for message_id in ids:
            message = self.emu.messages_by_id.get(_int(message_id))
            if message is not None and message.channel is channel and not message.deleted:
                self.delete_stored_message(message)
        return 204, None

    async def typing(self, call: Call) -> tuple[int, Any]:
        self.channel(call.params["channel_id"])
        return 204, None

    async def pin(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        message = self.message(channel, call.params["message_id"])
        perms = (
            channel.guild.bot_member.permissions_in(channel) if channel.guild else Permission.ALL
        )
        if not perms & (Permission.PIN_MESSAGES | Permission.MANAGE_MESSAGES):
            raise codes.forbidden(codes.MISSING_PERMISSIONS)
        if not message.pinned:
            if len(self.emu.pins(channel)) >= MAX_PINS:
                raise ApiError(400, codes.MAXIMUM_PINS)
            message.payload["pinned"] = True
            self.emu._pinned_at[message.id] = iso_now()
            self._pins_update(channel)
        return 204, None

    async def unpin(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        message = self.message(channel, call.params["message_id"])
        perms = (
            channel.guild.bot_member.permissions_in(channel) if channel.guild else Permission.ALL
        )
        if not perms & (Permission.PIN_MESSAGES | Permission.MANAGE_MESSAGES):
            raise codes.forbidden(codes.MISSING_PERMISSIONS)
        if message.pinned:
            message.payload["pinned"] = False
            self.emu._pinned_at.pop(message.id, None)
            self._pins_update(channel)
        return 204, None

    def _pins_update(self, channel: Channel) -> None:
        data: dict[str, Any] = {"channel_id": str(channel.id), "last_pin_timestamp": iso_now()}
        if channel.guild is not None:
            data["guild_id"] = str(channel.guild.id)
        self.emu._broadcast("CHANNEL_PINS_UPDATE", data, intent=self.emu.INTENT_GUILDS)

    async def list_pins_legacy(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        return 200, [m.payload for m in self.emu.pins(channel)]

    async def list_pins(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        pins = self.emu.pins(channel)
        limit = max(1, min(50, int(call.query.get("limit", 50))))
        if "before" in call.query:
            pins = [m for m in pins if self.emu._pinned_at[m.id] < call.query["before"]]
        items = [{"pinned_at": self.emu._pinned_at[m.id], "message": m.payload} for m in pins]
        return 200, {"items": items[:limit], "has_more": len(items) > limit}

    # -- threads -----------------------------------------------------------------------------

    def _new_thread(
        self,
        parent: Channel,
        body: dict[str, Any],
        *,
        thread_id: int,
        kind: int,
        tags: list[int] | None = None,
    ) -> Channel:
        assert parent.guild is not None
        thread = Channel(
            id=thread_id,
            name=str(body.get("name") or "thread"),
            type=kind,
            guild=parent.guild,
            parent_id=parent.id,
            owner_id=self.emu.bot_user.id,
            auto_archive_duration=int(body.get("auto_archive_duration") or 4320),
            invitable=bool(body.get("invitable", True)),
            rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
            bot_is_member=True,
            applied_tags=list(tags or []),
        )
        parent.guild.channels_by_id[thread.id] = thread
        self.emu.channels_by_id[thread.id] = thread
        self.emu._thread_event("THREAD_CREATE", thread, newly_created=True)
        return thread

    def _thread_payload(self, thread: Channel) -> dict[str, Any]:
        payload = thread.payload()
        payload["member"] = thread.thread_member_payload(self.emu.bot_user.id)
        return payload

    async def start_thread_from_message(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        message = self.message(channel, call.params["message_id"])
        if channel.is_thread or channel.type not in (
            ChannelType.GUILD_TEXT,
            ChannelType.GUILD_ANNOUNCEMENT,
        ):
            raise ApiError(400, codes.CANNOT_EXECUTE_ON_CHANNEL_TYPE)
        self.require(channel, Permission.CREATE_PUBLIC_THREADS)
        if message.id in self.emu.channels_by_id:
            raise ApiError(400, codes.THREAD_ALREADY_CREATED)
        kind = (
            ChannelType.ANNOUNCEMENT_THREAD
            if channel.type == ChannelType.GUILD_ANNOUNCEMENT
            else ChannelType.PUBLIC_THREAD
        )
        # A thread started from a message has the message's id.
        thread = self._new_thread(channel, call.body or {}, thread_id=message.id, kind=kind)
        message.payload["thread"] = thread.payload()
        message.payload["flags"] = int(message.payload.get("flags") or 0) | HAS_THREAD
        return 201, self._thread_payload(thread)

    async def start_thread(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        body = call.body or {}
        if channel.type == ChannelType.GUILD_FORUM:
            # "Send Messages" is what Discord calls "Create Posts" in a forum.
            self.require(channel, Permission.SEND_MESSAGES)
            starter = body.get("message") or {}
            tags = [_int(tag) for tag in body.get("applied_tags") or []]
            known = {tag.id for tag in channel.available_tags}
            if any(tag not in known for tag in tags):
                raise codes.invalid_form_body(
                    [FieldError(("applied_tags",), "BASE_TYPE_CHOICES", "Unknown forum tag")]
                )
            if channel.require_tag and not tags:
                raise ApiError(400, codes.TAG_REQUIRED)
            if not (starter.get("content") or starter.get("embeds") or call.files):
                raise ApiError(400, codes.CANNOT_SEND_EMPTY_MESSAGE)
            thread_id = new_snowflake()
            thread = self._new_thread(
                channel, body, thread_id=thread_id, kind=ChannelType.PUBLIC_THREAD, tags=tags
            )
            # The starter message of a forum post has the thread's id, as on Discord.
            message = self.new_message(
                thread, starter, call.files, record=call.record, message_id=thread_id
            )
            payload = self._thread_payload(thread)
            payload["message"] = message.payload
            return 201, payload
        if channel.is_thread or channel.type not in (
            ChannelType.GUILD_TEXT,
            ChannelType.GUILD_ANNOUNCEMENT,
        ):
            raise ApiError(400, codes.CANNOT_EXECUTE_ON_CHANNEL_TYPE)
        kind = int(body.get("type") or ChannelType.PRIVATE_THREAD)
        self.require(
            channel,
            Permission.CREATE_PRIVATE_THREADS
            if kind == ChannelType.PRIVATE_THREAD
            else Permission.CREATE_PUBLIC_THREADS,
        )
        thread = self._new_thread(channel, body, thread_id=new_snowflake(), kind=kind)
        return 201, self._thread_payload(thread)

    async def get_archived_threads(self, call: Call) -> tuple[int, Any]:
        """A channel's archived public threads (a forum's archived posts), the most recently
        archived first, `before` an ISO 8601 archive time."""
        channel = self.channel(call.params["channel_id"])
        if channel.type not in (
            ChannelType.GUILD_TEXT,
            ChannelType.GUILD_ANNOUNCEMENT,
            ChannelType.GUILD_FORUM,
        ):
            raise ApiError(400, codes.CANNOT_EXECUTE_ON_CHANNEL_TYPE)
        self.require(channel, Permission.READ_MESSAGE_HISTORY)
        assert channel.guild is not None
        threads = [
            t
            for t in channel.guild.threads
            if t.parent_id == channel.id and t.archived and t.type != ChannelType.PRIVATE_THREAD
        ]
        threads.sort(key=lambda t: t.archive_timestamp, reverse=True)
        if "before" in call.query:
            threads = [t for t in threads if t.archive_timestamp < call.query["before"]]
        limit = max(2, min(100, int(call.query.get("limit", 50))))
        page = threads[:limit]
        members = [t.thread_member_payload(self.emu.bot_user.id) for t in page if t.bot_is_member]
        return 200, {
            "threads": [t.payload() for t in page],
            "members": members,
            "has_more": len(threads) > limit,
        }

    async def join_thread(self, call: Call) -> tuple[int, Any]:
        thread = self.channel(call.params["channel_id"])
        if not thread.is_thread:
            raise ApiError(400, codes.CANNOT_EXECUTE_ON_CHANNEL_TYPE)
        thread.bot_is_member = True
        return 204, None

    async def leave_thread(self, call: Call) -> tuple[int, Any]:
        thread = self.channel(call.params["channel_id"])
        thread.bot_is_member = False
        return 204, None

    async def add_reaction(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        message = self.message(channel, call.params["message_id"])
        self.require(channel, Permission.ADD_REACTIONS)
        message.reactions.add(call.params["emoji"])
        return 204, None

    async def remove_reaction(self, call: Call) -> tuple[int, Any]:
        channel = self.channel(call.params["channel_id"])
        message = self.message(channel, call.params["message_id"])
        message.reactions.discard(call.params["emoji"])
        return 204, None

    # -- guilds ------------------------------------------------------------------------------

    def _guild(self, call: Call) -> Any:
        guild = self.emu.guilds_by_id.get(_int(call.params["guild_id"]))
        if guild is None:
            raise codes.not_found(codes.UNKNOWN_GUILD)
        return guild

    async def get_guild(self, call: Call) -> tuple[int, Any]:
        data = self._guild(call).create_payload()
        for key in ("channels", "threads", "members", "presences", "voice_states", "joined_at"):
            data.pop(key, None)
        return 200, data

    async def get_guild_channels(self, call: Call) -> tuple[int, Any]:
        return 200, [c.payload() for c in self._guild(call).channels]

    async def get_guild_roles(self, call: Call) -> tuple[int, Any]:
        return 200, [r.payload() for r in self._guild(call).roles]

    async def get_guild_member(self, call: Call) -> tuple[int, Any]:
        guild = self._guild(call)
        member = guild.members_by_id.get(_int(call.params["user_id"]))
        if member is None:
            raise codes.not_found(codes.UNKNOWN_MEMBER)
        return 200, member.payload()

    async def get_active_threads(self, call: Call) -> tuple[int, Any]:
        guild = self._guild(call)
        threads = [t for t in guild.threads if not t.archived]
        members = [
            t.thread_member_payload(self.emu.bot_user.id) for t in threads if t.bot_is_member
        ]
        return 200, {"threads": [t.payload() for t in threads], "members": members}

    # -- interactions ------------------------------------------------------------------------

    async def interaction_callback(self, call: Call) -> tuple[int, Any]:
        handle = self.emu.interactions.get(_int(call.params["interaction_id"]))
        if handle is None or handle.token != call.params["token"]:
            raise codes.not_found(codes.UNKNOWN_INTERACTION)
        body = call.body or {}
        kind = body.get("type")
        if handle.acknowledged:
            self._violation(call.record, "interaction acknowledged twice")
            raise ApiError(400, codes.INTERACTION_ALREADY_ACKNOWLEDGED)
        elapsed = time.monotonic() - handle.dispatched_at
        if elapsed > self.emu.interaction_deadline:
            handle.late_callback = True
            self._violation(
                call.record, f"interaction answered after {elapsed:.2f} s (Discord allows 3 s)"
            )
            raise codes.not_found(codes.UNKNOWN_INTERACTION)
        allowed = _ALLOWED_CALLBACKS.get(handle.type, set())
        if kind not in allowed:
            self._violation(
                call.record, f"callback type {kind} is not valid for interaction type {handle.type}"
            )
            raise codes.invalid_form_body(
                [
                    FieldError(
                        ("type",),
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        "Invalid interaction response type",
                    )
                ]
            )
        data = body.get("data") or {}
        message: Message | None = None
        if kind == CHANNEL_MESSAGE:
            self._check_interaction_message(data, call.files)
            message = self.new_message(
                handle.channel, data, call.files, interaction=handle, record=call.record
            )
            handle.original = message
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = self.new_message(
                handle.channel, {"content": ""}, [], interaction=handle, extra_flags=flags
            )
            handle.original = message
        elif kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            message = handle.source_message
            if message is None:
                raise ApiError(
                    400, codes.UNKNOWN_MESSAGE, "This interaction has no message to update"
                )
            if kind == UPDATE_MESSAGE:
                self.edit_stored_message(message, data, call.files, record=call.record)
            handle.original = message
        elif kind == AUTOCOMPLETE_RESULT:
            handle.choices = list(data.get("choices") or [])
        elif kind == MODAL:
            handle.modal = data
        handle.callback_type = kind
        handle.responses.append(InteractionResponse("callback", body, kind, message))
        if not call.flag("with_response"):
            return 204, None
        return 200, _callback_response(handle, kind, message)

    def _check_interaction_message(self, data: dict[str, Any], files: list[UploadedFile]) -> None:
        if not (
            data.get("content")
            or data.get("embeds")
            or data.get("components")
            or data.get("poll")
            or files
        ):
            raise ApiError(400, codes.CANNOT_SEND_EMPTY_MESSAGE)

    async def followup_create(self, call: Call) -> tuple[int, Any]:
        handle = self.interaction_by_token(call.params["app"], call.params["token"])
        body = call.body or {}
        self._check_interaction_message(body, call.files)
        if (
            handle.callback_type == DEFERRED_CHANNEL_MESSAGE
            and handle.original is not None
            and handle.original.loading
        ):
            # The first follow-up after a "thinking" defer fills in the deferred message.
            message = self.edit_stored_message(
                handle.original, body, call.files, record=call.record
            )
            handle.responses.append(InteractionResponse("edit_original", body, None, message))
        else:
            message = self.new_message(
                handle.channel, body, call.files, interaction=handle, record=call.record
            )
            handle.followups.append(message)
            handle.responses.append(InteractionResponse("followup", body, None, message))
        if not call.flag("wait"):
            return 204, None
        return 200, message.payload

    def _webhook_message(self, call: Call) -> tuple[InteractionHandle, Message, bool]:
        handle = self.interaction_by_token(call.params["app"], call.params["token"])
        if "message_id" not in call.params:
            if handle.original is None or handle.original.deleted:
                raise codes.not_found(codes.UNKNOWN_MESSAGE)
            return handle, handle.original, True
        wanted = _int(call.params["message_id"])
        for message in handle.messages:
            if message.id == wanted and not message.deleted:
                return handle, message, message is handle.original
        raise codes.not_found(codes.UNKNOWN_MESSAGE)

    async def webhook_message_get(self, call: Call) -> tuple[int, Any]:
        return 200, self._webhook_message(call)[1].payload

    async def webhook_message_edit(self, call: Call) -> tuple[int, Any]:
        handle, message, is_original = self._webhook_message(call)
        self.edit_stored_message(message, call.body or {}, call.files, record=call.record)
        kind = "edit_original" if is_original else "edit_followup"
        handle.responses.append(InteractionResponse(kind, call.body, None, message))
        return 200, message.payload

    async def webhook_message_delete(self, call: Call) -> tuple[int, Any]:
        handle, message, is_original = self._webhook_message(call)
        self.delete_stored_message(message)
        kind = "delete_original" if is_original else "delete_followup"
        handle.responses.append(InteractionResponse(kind, None, None, message))
        return 204, None

    # -- attachments (the CDN) ---------------------------------------------------------------

    async def serve_attachment(self, request: web.Request) -> web.StreamResponse:
        attachment = self.emu.attachments.get(_int(request.match_info["attachment_id"]))
        if attachment is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(
            body=attachment.data,
            headers={"Content-Type": attachment.content_type or "application/octet-stream"},
        )


_ALLOWED_CALLBACKS: dict[int, set[int]] = {
    PING: {PONG},
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
    },
}


def _callback_response(
    handle: InteractionHandle, kind: int, message: Message | None
) -> dict[str, Any]:
    """The `?with_response=true` body, shaped as Discord's InteractionCallbackResponse."""
    interaction: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
    if handle.guild is not None:
        interaction["guild_id"] = str(handle.guild.id)
    interaction["channel_id"] = str(handle.channel.id)
    result: dict[str, Any] = {"interaction": interaction}
    if message is not None:
        interaction["response_message_id"] = str(message.id)
        interaction["response_message_loading"] = message.loading
        interaction["response_message_ephemeral"] = message.ephemeral
    if kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE) and message is not None:
        result["resource"] = {"type": kind, "message": message.payload}
    return result


def _interaction_metadata(handle: InteractionHandle) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(handle.id),
        "type": handle.type,
        "user": handle.user.payload(),
        "authorizing_integration_owners": handle.payload.get("authorizing_integration_owners", {}),
    }
    inner = handle.payload.get("data") or {}
    if handle.type == APPLICATION_COMMAND:
        data["name"] = inner.get("name", "")
        data["command_type"] = inner.get("type", 1)
        if inner.get("type") == MESSAGE_COMMAND and "target_id" in inner:
            data["target_message_id"] = inner["target_id"]
    if handle.source_message is not None:
        data["interacted_message_id"] = str(handle.source_message.id)
    return data


ATTACHMENT_SCHEME = "attachment://"
EMBEDDABLE_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif")


def _normalize_embed(embed: Any) -> Any:
    if isinstance(embed, dict):
        return {"type": "rich", **embed, "content_scan_version": 0}
    return embed


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from exc


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _specificity(route: Route) -> tuple[int, ...]:
    return tuple(0 if part.startswith("{") else 1 for part in route.template.strip("/").split("/"))
