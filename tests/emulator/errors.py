"""Discord's error bodies: `{"code", "message"}` and the nested 50035 "Invalid Form Body"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# The JSON error codes the emulator answers with (Discord's numbering).
UNKNOWN_ACCOUNT = 10001
UNKNOWN_APPLICATION = 10002
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_ROLE = 10011
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
UNKNOWN_APPLICATION_COMMAND = 10063
CANNOT_EDIT_OTHERS_MESSAGE = 50005
CANNOT_SEND_EMPTY_MESSAGE = 50006
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
INVALID_FORM_BODY = 50035
INTERACTION_ALREADY_ACKNOWLEDGED = 40060
REQUEST_ENTITY_TOO_LARGE = 40005
MAXIMUM_PINS = 30003
THREAD_ALREADY_CREATED = 160004
THREAD_ARCHIVED = 50083
CANNOT_EXECUTE_ON_CHANNEL_TYPE = 50024
CANNOT_SEND_IN_NON_TEXT_CHANNEL = 50008
TAG_REQUIRED = 40067

DEFAULT_MESSAGES = {
    UNKNOWN_ACCOUNT: "Unknown Account",
    UNKNOWN_APPLICATION: "Unknown Application",
    UNKNOWN_CHANNEL: "Unknown Channel",
    UNKNOWN_GUILD: "Unknown Guild",
    UNKNOWN_MEMBER: "Unknown Member",
    UNKNOWN_MESSAGE: "Unknown Message",
    UNKNOWN_ROLE: "Unknown Role",
    UNKNOWN_USER: "Unknown User",
    UNKNOWN_WEBHOOK: "Unknown Webhook",
    UNKNOWN_INTERACTION: "Unknown interaction",
    UNKNOWN_APPLICATION_COMMAND: "Unknown application command",
    CANNOT_EDIT_OTHERS_MESSAGE: "Cannot edit a message authored by another user",
    CANNOT_SEND_EMPTY_MESSAGE: "Cannot send an empty message",
    MISSING_ACCESS: "Missing Access",
    MISSING_PERMISSIONS: "Missing Permissions",
    INVALID_FORM_BODY: "Invalid Form Body",
    INTERACTION_ALREADY_ACKNOWLEDGED: "Interaction has already been acknowledged.",
    REQUEST_ENTITY_TOO_LARGE: "Request entity too large",
    MAXIMUM_PINS: "Maximum number of pins reached (50)",
    THREAD_ALREADY_CREATED: "A thread has already been created for this message",
    THREAD_ARCHIVED: "Thread is archived",
    CANNOT_EXECUTE_ON_CHANNEL_TYPE: "Cannot execute action on this channel type",
    CANNOT_SEND_IN_NON_TEXT_CHANNEL: "Cannot send messages in a non-text channel",
    TAG_REQUIRED: "A tag is required to create a forum post in this channel",
}

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of a request body (`path` as keys and list indexes)."""

    path: Path
    code: str
    message: str

    def describe(self) -> str:
        where = ".".join(str(part) for part in self.path) or "<body>"
        return f"{where}: {self.message} ({self.code})"


def prefixed(prefix: Path, errors: Iterable[FieldError]) -> list[FieldError]:
    return [FieldError(prefix + error.path, error.code, error.message) for error in errors]


def error_tree(errors: Sequence[FieldError]) -> dict[str, Any]:
    """Nest field errors the way Discord does: {"embeds": {"0": {"title": {"_errors": [...]}}}}."""
    tree: dict[str, Any] = {}
    for error in errors:
        node = tree
        for part in error.path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": error.code, "message": error.message})
    return tree


class ApiError(Exception):
    """Raised by a route handler to answer with a Discord JSON error."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, f"{status}: error")
        self.field_errors = list(errors)
        self.headers = headers or {}
        super().__init__(f"{status} {code} {self.message}")

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.field_errors:
            data["errors"] = error_tree(self.field_errors)
        return data


def not_found(code: int) -> ApiError:
    return ApiError(404, code)


def forbidden(code: int = MISSING_PERMISSIONS) -> ApiError:
    return ApiError(403, code)


def invalid_form_body(errors: Sequence[FieldError]) -> ApiError:
    return ApiError(400, INVALID_FORM_BODY, errors=errors)


def bad_request(code: int, message: str | None = None) -> ApiError:
    return ApiError(400, code, message)
