"""A protocol-faithful stand-in for Discord that the real discord.py client talks to.

See README.md in this folder for the test-facing API.
"""

from tests.emulator.emulator import DEFAULT_TOKEN, DiscordEmulator
from tests.emulator.errors import ApiError, FieldError
from tests.emulator.faults import Fault, Faults, RoutePattern
from tests.emulator.interactions import InteractionHandle, InteractionResponse, InvalidInvocation
from tests.emulator.models import (
    Attachment,
    Channel,
    ChannelType,
    ForumTag,
    Guild,
    Member,
    Message,
    Permission,
    Role,
    User,
)
from tests.emulator.rest import RequestRecord, UploadedFile, most_within
from tests.emulator.spec import SPEC_PATH, DiscordSpec, load_spec, spec_missing_reason

__all__ = [
    "DEFAULT_TOKEN",
    "SPEC_PATH",
    "ApiError",
    "Attachment",
    "Channel",
    "ChannelType",
    "DiscordEmulator",
    "DiscordSpec",
    "Fault",
    "Faults",
    "FieldError",
    "ForumTag",
    "Guild",
    "InteractionHandle",
    "InteractionResponse",
    "InvalidInvocation",
    "Member",
    "Message",
    "Permission",
    "RequestRecord",
    "Role",
    "RoutePattern",
    "UploadedFile",
    "User",
    "load_spec",
    "most_within",
    "spec_missing_reason",
]
