"""The emulator's world: users, guilds, roles, members, channels, messages, attachments.

Each model keeps plain Python state and renders the JSON payload Discord would send for it
(`payload()`), so the REST server, the gateway and the interaction builder all describe an
object the same way.
"""

from __future__ import annotations

import datetime
import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.emulator.emulator import DiscordEmulator

DISCORD_EPOCH_MS = 1_420_070_400_000

_increment = itertools.count(1)


def new_snowflake() -> int:
    """A fresh, strictly increasing Discord id whose timestamp part is now."""
    millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (millis << 22) | (next(_increment) & 0x3FFFFF)


def snowflake_on_shard(shard_id: int, shard_count: int) -> int:
    """A fresh id (timestamp part at most `shard_count` ms ago) of a guild that shard
    `shard_id` of `shard_count` gets: `(id >> 22) % shard_count == shard_id`."""
    if not 0 <= shard_id < shard_count:
        raise ValueError(f"no shard {shard_id} among {shard_count}")
    millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
    millis -= (millis - shard_id) % shard_count
    return (millis << 22) | (next(_increment) & 0x3FFFFF)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG, as Discord reports for image attachments."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:2] == b"\xff\xd8":
        index = 2
        while index + 9 < len(data) and data[index] == 0xFF:
            marker = data[index + 1]
            length = int.from_bytes(data[index + 2 : index + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height = int.from_bytes(data[index + 5 : index + 7], "big")
                width = int.from_bytes(data[index + 7 : index + 9], "big")
                return width, height
            index += 2 + length
    return None


def iso_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def snowflake_time_iso(snowflake: int) -> str:
    millis = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(millis / 1000, datetime.UTC).isoformat()


class Permission:
    """Permission bits (Discord's numbering) the emulator itself checks or hands out."""

    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    PIN_MESSAGES = 1 << 51

    ALL = (1 << 53) - 1

    # What @everyone gets in a new server (a close subset of Discord's default).
    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | MENTION_EVERYONE
        | USE_EXTERNAL_EMOJIS
        | CONNECT
        | SPEAK
        | CHANGE_NICKNAME
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | CREATE_PRIVATE_THREADS
        | SEND_MESSAGES_IN_THREADS
    )

    # What the bot's own role holds: the set its invite link asks for.
    BOT_DEFAULT = (
        VIEW_CHANNEL
        | SEND_MESSAGES
        | SEND_MESSAGES_IN_THREADS
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | CREATE_PUBLIC_THREADS
        | MANAGE_THREADS
        | PIN_MESSAGES
        | ADD_REACTIONS
        | USE_APPLICATION_COMMANDS
    )


def permission_value(value: object) -> int:
    """Accept an int, a decimal string, or anything with `.value` (e.g. discord.Permissions)."""
    if isinstance(value, bool):
        raise TypeError("permissions must be an int, a string of digits or a Permissions object")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value)
    inner = getattr(value, "value", None)
    if isinstance(inner, int):
        return inner
    raise TypeError(f"cannot read permissions from {value!r}")


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    ANNOUNCEMENT_THREAD = 10
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    GUILD_FORUM = 15

    THREADS = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})
    MESSAGEABLE = frozenset({GUILD_TEXT, DM, GUILD_VOICE, GUILD_ANNOUNCEMENT} | THREADS)


# A forum's `flags`: every post must have a tag.
REQUIRE_TAG = 1 << 4


@dataclass(eq=False)
class ForumTag:
    """A tag of a forum channel (`available_tags`), applied to posts by id."""

    id: int
    name: str
    moderated: bool = False
    emoji_name: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "moderated": self.moderated,
            "emoji_id": None,
            "emoji_name": self.emoji_name,
        }


@dataclass(eq=False)
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "primary_guild": None,
            "collectibles": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass(eq=False)
class Role:
    id: int
    guild: Guild
    name: str
    permissions: int = 0
    position: int = 1
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    @property
    def is_everyone(self) -> bool:
        return self.id == self.guild.id

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": 0 if self.is_everyone else self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }


@dataclass(eq=False)
class Member:
    user: User
    guild: Guild
    roles: list[Role] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def mention(self) -> str:
        return self.user.mention

    @property
    def display_name(self) -> str:
        return self.nick or self.user.global_name or self.user.username

    def base_permissions(self) -> int:
        """Guild-level permissions: @everyone plus every role; owners and admins get all."""
        if self.user.id == self.guild.owner_id:
            return Permission.ALL
        value = self.guild.everyone_role.permissions
        for role in self.roles:
            value |= role.permissions
        if value & Permission.ADMINISTRATOR:
            return Permission.ALL
        return value

    def permissions_in(self, channel: Channel | None) -> int:
        """Permissions after channel overwrites, computed the way Discord documents it."""
        base = self.base_permissions()
        if channel is None or base & Permission.ADMINISTRATOR or base == Permission.ALL:
            return base
        target = channel.parent if channel.is_thread and channel.parent is not None else channel
        overwrites = {int(o["id"]): o for o in target.permission_overwrites}
        everyone = overwrites.get(self.guild.id)
        if everyone is not None:
            base &= ~int(everyone["deny"])
            base |= int(everyone["allow"])
        allow = deny = 0
        for role in self.roles:
            overwrite = overwrites.get(role.id)
            if overwrite is not None:
                allow |= int(overwrite["allow"])
                deny |= int(overwrite["deny"])
        base = (base & ~deny) | allow
        own = overwrites.get(self.id)
        if own is not None:
            base = (base & ~int(own["deny"])) | int(own["allow"])
        return base

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(role.id) for role in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass(eq=False)
class Channel:
    """A guild channel, a thread, or a DM channel (then `guild` is None)."""

    id: int
    name: str
    type: int
    guild: Guild | None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    permission_overwrites: list[dict[str, Any]] = field(default_factory=list)
    # Threads only.
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    invitable: bool = True
    archive_timestamp: str = field(default_factory=iso_now)
    bot_is_member: bool = False
    applied_tags: list[int] = field(default_factory=list)  # a forum post's tags
    # Forums only: their tags, and whether a post must have one (REQUIRE_TAG).
    available_tags: list[ForumTag] = field(default_factory=list)
    require_tag: bool = False
    # DM channels only.
    recipients: list[User] = field(default_factory=list)
    # Set by a test: every channel REST route answers 403 with this Discord error code
    # (50001 Missing Access or 50013 Missing Permissions).
    forbidden_code: int | None = None
    last_message_id: int | None = None
    message_count: int = 0
    deleted: bool = False

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    @property
    def is_thread(self) -> bool:
        return self.type in ChannelType.THREADS

    @property
    def parent(self) -> Channel | None:
        if self.guild is None or self.parent_id is None:
            return None
        return self.guild.channels_by_id.get(self.parent_id)

    @property
    def is_forum(self) -> bool:
        return self.type == ChannelType.GUILD_FORUM

    def tag(self, name: str) -> ForumTag:
        """A forum's tag by name."""
        for tag in self.available_tags:
            if tag.name == name:
                return tag
        raise LookupError(f"#{self.name} has no tag {name!r}")

    def forbid(self, code: int = 50001) -> None:
        """Make every REST call on this channel fail with 403 and `code` (50001 or 50013)."""
        if code not in (50001, 50013):
            raise ValueError("use 50001 (Missing Access) or 50013 (Missing Permissions)")
        self.forbidden_code = code

    def allow(self) -> None:
        self.forbidden_code = None

    def payload(self) -> dict[str, Any]:
        if self.type == ChannelType.DM:
            return {
                "id": str(self.id),
                "type": self.type,
                "last_message_id": _opt_str(self.last_message_id),
                "flags": 0,
                "recipients": [user.payload() for user in self.recipients],
            }
        assert self.guild is not None
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "parent_id": _opt_str(self.parent_id),
            "nsfw": self.nsfw,
            "flags": 0,
            "rate_limit_per_user": self.rate_limit_per_user,
            "last_message_id": _opt_str(self.last_message_id),
        }
        if self.is_thread:
            data.update(
                {
                    "owner_id": _opt_str(self.owner_id),
                    "message_count": self.message_count,
                    "total_message_sent": self.message_count,
                    "member_count": 1 if self.bot_is_member else 0,
                    "thread_metadata": {
                        "archived": self.archived,
                        "auto_archive_duration": self.auto_archive_duration,
                        "archive_timestamp": self.archive_timestamp,
                        "locked": self.locked,
                        "invitable": self.invitable,
                        "create_timestamp": snowflake_time_iso(self.id),
                    },
                }
            )
            if self.type == ChannelType.PUBLIC_THREAD:
                data["thread_metadata"].pop("invitable")
            parent = self.parent
            if parent is not None and parent.is_forum:
                data["applied_tags"] = [str(tag) for tag in self.applied_tags]
        else:
            data.update(
                {
                    "position": self.position,
                    "permission_overwrites": list(self.permission_overwrites),
                    "topic": self.topic,
                }
            )
            if self.type == ChannelType.GUILD_FORUM:
                data["flags"] = REQUIRE_TAG if self.require_tag else 0
                data.update(
                    {
                        "available_tags": [tag.payload() for tag in self.available_tags],
                        "default_reaction_emoji": None,
                        "default_sort_order": None,
                        "default_forum_layout": 0,
                        "default_thread_rate_limit_per_user": 0,
                    }
                )
        return data

    def thread_member_payload(self, user_id: int) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "user_id": str(user_id),
            "join_timestamp": iso_now(),
            "flags": 0,
        }


@dataclass(eq=False)
class Attachment:
    """A stored file: its bytes are served over HTTP at `url`."""

    id: int
    filename: str
    data: bytes
    content_type: str | None
    url: str
    description: str | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def dimensions(self) -> tuple[int, int] | None:
        """(width, height) when the file is an image."""
        return image_size(self.data)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type is not None:
            data["content_type"] = self.content_type
        if self.description is not None:
            data["description"] = self.description
        dimensions = self.dimensions
        if dimensions is not None:
            data["width"], data["height"] = dimensions
        if self.ephemeral:
            data["ephemeral"] = True
        return data

    def embed_media(self) -> dict[str, Any]:
        """An embed image or thumbnail showing this file, as Discord resolves
        `attachment://<filename>`."""
        media: dict[str, Any] = {"url": self.url, "proxy_url": self.url}
        dimensions = self.dimensions
        if dimensions is not None:
            media["width"], media["height"] = dimensions
        if self.content_type is not None:
            media["content_type"] = self.content_type
        return media


@dataclass(eq=False)
class Message:
    """A message as stored by the emulator. `payload` is the JSON Discord returns for it.

    Read-back helpers (`content`, `embeds`, `text`, `find_component`...) make assertions short.
    """

    payload: dict[str, Any]
    channel: Channel
    attachments_stored: list[Attachment] = field(default_factory=list)
    deleted: bool = False
    # Which interaction created it (for interaction responses and follow-ups).
    interaction_id: int | None = None
    edits: int = 0
    reactions: set[str] = field(default_factory=set)

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def channel_id(self) -> int:
        return self.channel.id

    @property
    def author_id(self) -> int:
        return int(self.payload["author"]["id"])

    @property
    def content(self) -> str:
        return self.payload.get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.payload.get("embeds") or [])

    @property
    def embed(self) -> dict[str, Any] | None:
        """The first embed, or None."""
        embeds = self.embeds
        return embeds[0] if embeds else None

    @property
    def components(self) -> list[dict[str, Any]]:
        return list(self.payload.get("components") or [])

    @property
    def flags(self) -> int:
        return int(self.payload.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & 64)

    @property
    def loading(self) -> bool:
        """True while a deferred ("thinking") response has not been filled in."""
        return bool(self.flags & 128)

    @property
    def pinned(self) -> bool:
        return bool(self.payload.get("pinned"))

    @property
    def attachments(self) -> list[Attachment]:
        return list(self.attachments_stored)

    @property
    def text(self) -> str:
        """Everything a reader sees as text: content, embed titles, descriptions, fields..."""
        parts = [self.content]
        for embed in self.embeds:
            parts.append(embed.get("title") or "")
            parts.append(embed.get("description") or "")
            for item in embed.get("fields") or []:
                parts.append(item.get("name") or "")
                parts.append(item.get("value") or "")
            parts.append((embed.get("footer") or {}).get("text") or "")
            parts.append((embed.get("author") or {}).get("name") or "")
        for component in self.iter_components():
            if component.get("type") == 10:
                parts.append(component.get("content") or "")
        return "\n".join(part for part in parts if part)

    def iter_components(self) -> Iterator[dict[str, Any]]:
        """Every component, depth first (rows, containers, sections and their children)."""
        yield from _walk_components(self.components)

    def find_component(
        self, *, custom_id: str | None = None, label: str | None = None, type: int | None = None
    ) -> dict[str, Any]:
        """The one component matching all given criteria; raises LookupError otherwise."""
        matches = [
            component
            for component in self.iter_components()
            if (custom_id is None or component.get("custom_id") == custom_id)
            and (label is None or component.get("label") == label)
            and (type is None or component.get("type") == type)
        ]
        if len(matches) != 1:
            present = [
                (c.get("type"), c.get("custom_id"), c.get("label")) for c in self.iter_components()
            ]
            raise LookupError(
                f"{len(matches)} components match custom_id={custom_id!r} label={label!r} "
                f"type={type!r} on message {self.id}; it has {present}"
            )
        return matches[0]

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [component for component in self.iter_components() if component.get("type") == 2]


def _walk_components(components: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            yield from _walk_components([component["component"]])
        if isinstance(component.get("accessory"), dict):
            yield from _walk_components([component["accessory"]])


class Guild:
    """A guild with its roles, channels (threads included) and members.

    Create it with `DiscordEmulator.add_guild`; additions after the bot connected are sent to
    it over the gateway (CHANNEL_CREATE, GUILD_ROLE_CREATE, GUILD_MEMBER_ADD).
    """

    def __init__(self, emulator: DiscordEmulator, guild_id: int, name: str, owner: User) -> None:
        self.emulator = emulator
        self.id = guild_id
        self.name = name
        self.owner_id = owner.id
        self.roles_by_id: dict[int, Role] = {}
        self.channels_by_id: dict[int, Channel] = {}
        self.members_by_id: dict[int, Member] = {}
        self.commands: dict[int, dict[str, Any]] = {}
        self.commands_synced = 0
        self.preferred_locale = "en-US"
        self.roles_by_id[guild_id] = Role(
            id=guild_id, guild=self, name="@everyone", permissions=Permission.EVERYONE_DEFAULT
        )

    def __repr__(self) -> str:
        return f"<Guild id={self.id} name={self.name!r}>"

    # -- lookups -------------------------------------------------------------------------

    @property
    def everyone_role(self) -> Role:
        return self.roles_by_id[self.id]

    @property
    def roles(self) -> list[Role]:
        return list(self.roles_by_id.values())

    @property
    def channels(self) -> list[Channel]:
        return [c for c in self.channels_by_id.values() if not c.is_thread and not c.deleted]

    @property
    def threads(self) -> list[Channel]:
        return [c for c in self.channels_by_id.values() if c.is_thread and not c.deleted]

    @property
    def members(self) -> list[Member]:
        return list(self.members_by_id.values())

    @property
    def bot_member(self) -> Member:
        return self.members_by_id[self.emulator.bot_user.id]

    def channel(self, name_or_id: str | int) -> Channel:
        """A channel or thread by name (with or without '#') or id."""
        for channel in self.channels_by_id.values():
            if channel.deleted:
                continue
            if channel.id == name_or_id or channel.name == str(name_or_id).lstrip("#"):
                return channel
        raise LookupError(f"no channel {name_or_id!r} in {self!r}")

    def role(self, name_or_id: str | int) -> Role:
        for role in self.roles_by_id.values():
            if role.id == name_or_id or role.name == str(name_or_id).lstrip("@"):
                return role
        raise LookupError(f"no role {name_or_id!r} in {self!r}")

    def member(self, name_or_id: str | int) -> Member:
        """A member by id, username, global name or nickname (with or without '@')."""
        wanted = str(name_or_id).lstrip("@")
        for member in self.members_by_id.values():
            names = {member.user.username, member.user.global_name, member.nick}
            if member.id == name_or_id or wanted in names:
                return member
        raise LookupError(f"no member {name_or_id!r} in {self!r}")

    # -- building ------------------------------------------------------------------------

    def add_role(
        self,
        name: str,
        *,
        permissions: object = 0,
        color: int = 0,
        mentionable: bool = False,
        managed: bool = False,
    ) -> Role:
        role = Role(
            id=new_snowflake(),
            guild=self,
            name=name,
            permissions=permission_value(permissions),
            position=len(self.roles_by_id),
            color=color,
            mentionable=mentionable,
            managed=managed,
        )
        self.roles_by_id[role.id] = role
        self.emulator._guild_changed(self, "GUILD_ROLE_CREATE", {"role": role.payload()})
        return role

    def add_channel(
        self,
        name: str,
        *,
        type: int = ChannelType.GUILD_TEXT,
        category: Channel | None = None,
        topic: str | None = None,
        nsfw: bool = False,
        permission_overwrites: list[dict[str, Any]] | None = None,
    ) -> Channel:
        channel = Channel(
            id=new_snowflake(),
            name=name,
            type=type,
            guild=self,
            position=len(self.channels),
            parent_id=category.id if category is not None else None,
            topic=topic,
            nsfw=nsfw,
            permission_overwrites=list(permission_overwrites or []),
        )
        self.channels_by_id[channel.id] = channel
        self.emulator._guild_changed(self, "CHANNEL_CREATE", channel.payload())
        return channel

    def add_text_channel(self, name: str, **kwargs: Any) -> Channel:
        return self.add_channel(name, type=ChannelType.GUILD_TEXT, **kwargs)

    def add_category(self, name: str) -> Channel:
        return self.add_channel(name, type=ChannelType.GUILD_CATEGORY)

    def add_forum(
        self, name: str, *, tags: Sequence[str] = (), require_tag: bool = False, **kwargs: Any
    ) -> Channel:
        """A forum channel (posts only, no messages of its own), with `tags` available and,
        with `require_tag`, refusing a post without one (Discord's REQUIRE_TAG flag)."""
        forum = Channel(
            id=new_snowflake(),
            name=name,
            type=ChannelType.GUILD_FORUM,
            guild=self,
            position=len(self.channels),
            available_tags=[ForumTag(new_snowflake(), tag) for tag in tags],
            require_tag=require_tag,
        )
        category = kwargs.pop("category", None)
        forum.parent_id = category.id if category is not None else None
        for key, value in kwargs.items():
            setattr(forum, key, value)
        self.channels_by_id[forum.id] = forum
        self.emulator._guild_changed(self, "CHANNEL_CREATE", forum.payload())
        return forum

    def add_thread(
        self,
        parent: Channel,
        name: str,
        *,
        owner: Member | None = None,
        private: bool = False,
        archived: bool = False,
        locked: bool = False,
    ) -> Channel:
        """A thread someone else created (the bot is not a member until it joins)."""
        thread = Channel(
            id=new_snowflake(),
            name=name,
            type=ChannelType.PRIVATE_THREAD if private else ChannelType.PUBLIC_THREAD,
            guild=self,
            parent_id=parent.id,
            owner_id=(owner or self.members[0]).id,
            archived=archived,
            locked=locked,
        )
        self.channels_by_id[thread.id] = thread
        self.emulator._guild_changed(
            self, "THREAD_CREATE", {**thread.payload(), "newly_created": True}
        )
        return thread

    def add_member(
        self,
        username: str,
        *,
        roles: Iterable[Role] = (),
        nick: str | None = None,
        global_name: str | None = None,
        bot: bool = False,
        user_id: int | None = None,
    ) -> Member:
        user = self.emulator.users.get(user_id) if user_id is not None else None
        if user is None:
            user = User(
                id=user_id or new_snowflake(), username=username, global_name=global_name, bot=bot
            )
            self.emulator.users[user.id] = user
        member = Member(user=user, guild=self, roles=list(roles), nick=nick)
        self.members_by_id[user.id] = member
        self.emulator._guild_changed(
            self, "GUILD_MEMBER_ADD", member.payload(), intent=self.emulator.INTENT_GUILD_MEMBERS
        )
        return member

    def remove_channel(self, channel: Channel) -> None:
        """Delete a channel or thread, as if someone did it in the Discord client."""
        channel.deleted = True
        self.channels_by_id.pop(channel.id, None)
        if channel.is_thread:
            event = "THREAD_DELETE"
            data = {
                "id": str(channel.id),
                "guild_id": str(self.id),
                "parent_id": _opt_str(channel.parent_id),
                "type": channel.type,
            }
        else:
            event, data = "CHANNEL_DELETE", channel.payload()
        self.emulator._guild_changed(self, event, data)

    # -- payloads ------------------------------------------------------------------------

    def create_payload(self, *, joined: bool = False) -> dict[str, Any]:
        """The GUILD_CREATE payload: everything the client caches about the guild.

        After READY, guilds listed there as unavailable arrive with `unavailable: false`;
        a guild the bot just joined arrives without the key (discord.py: guild_join).
        """
        payload = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.preferred_locale,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "roles": [role.payload() for role in self.roles],
            "emojis": [],
            "stickers": [],
            "channels": [channel.payload() for channel in self.channels],
            "threads": [thread.payload() for thread in self.threads if not thread.archived],
            "members": [member.payload() for member in self.members],
            "member_count": len(self.members_by_id),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": self.bot_member.joined_at,
            "large": False,
            "unavailable": False,
            "lazy": True,
            "application_id": None,
            "incidents_data": None,
        }
        if joined:
            del payload["unavailable"]
        return payload

    def interaction_guild_payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "locale": self.preferred_locale, "features": []}


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
