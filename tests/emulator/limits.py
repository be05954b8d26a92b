"""Discord's documented size limits, checked by hand because the OpenAPI spec is looser.

Each check returns a list of `FieldError`s (empty when the body is fine); the REST server
turns them into a 400 `{"code": 50035, "message": "Invalid Form Body", "errors": {...}}`.
The same message checks apply to channel messages, interaction callbacks, follow-ups and
edits alike.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from tests.emulator.errors import FieldError, Path

MESSAGE_CONTENT = 2000
EMBEDS_PER_MESSAGE = 10
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
EMBED_FIELD_NAME = 256
EMBED_FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_AUTHOR_NAME = 256
EMBEDS_TOTAL = 6000
ACTION_ROWS_PER_MESSAGE = 5
BUTTONS_PER_ROW = 5
BUTTON_LABEL = 80
CUSTOM_ID = 100
SELECT_OPTIONS = 25
SELECT_OPTION_TEXT = 100
SELECT_PLACEHOLDER = 150
MODAL_TITLE = 45
MODAL_ROWS = 5
TEXT_INPUT_LABEL = 45
TEXT_INPUT_VALUE = 4000
TEXT_INPUT_PLACEHOLDER = 100
AUTOCOMPLETE_CHOICES = 25
CHOICE_NAME = 100
CHOICE_STRING_VALUE = 100
COMMAND_OPTIONS = 25
COMMAND_DESCRIPTION = 100
COMMAND_TOTAL_CHARACTERS = 4000
COMPONENTS_V2_FLAG = 1 << 15
EMBED_URL = 2048
LINK_BUTTON_URL = 512
# What Discord accepts where: embed and author links are web pages; images and icons may
# also name an uploaded file (`attachment://name.png`); link buttons also open `discord://`.
WEB_SCHEMES = ("http", "https")
IMAGE_SCHEMES = ("http", "https", "attachment")
BUTTON_SCHEMES = ("http", "https", "discord")
EMBED_URL_FIELDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("url",), WEB_SCHEMES),
    (("author", "url"), WEB_SCHEMES),
    (("author", "icon_url"), IMAGE_SCHEMES),
    (("footer", "icon_url"), IMAGE_SCHEMES),
    (("image", "url"), IMAGE_SCHEMES),
    (("thumbnail", "url"), IMAGE_SCHEMES),
)
_HOST_LABELS = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")

SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


def _max_length(path: Path, value: object, limit: int) -> list[FieldError]:
    if isinstance(value, str) and len(value) > limit:
        return [FieldError(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")]
    return []


def _length_between(path: Path, value: object, low: int, high: int) -> list[FieldError]:
    if isinstance(value, str | list) and not low <= len(value) <= high:
        return [
            FieldError(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")
        ]
    return []


def _required(path: Path, container: dict[str, Any], key: str) -> list[FieldError]:
    if container.get(key) in (None, ""):
        return [FieldError((*path, key), "BASE_TYPE_REQUIRED", "This field is required")]
    return []


# Written apart from the bot's own check (bot/rendering/urls.py) on purpose: a test passes
# only when the bot's body satisfies this independent rendering of what Discord accepts.
def _well_formed_host(netloc: str, hostname: str | None) -> bool:
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        literal = host[1 : host.find("]")] if "]" in host else ""
        try:
            ipaddress.IPv6Address(literal.split("%", 1)[0])
        except ValueError:
            return False
        return True
    if not hostname or "[" in host or "]" in host:
        return False
    try:
        ascii_host = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return _HOST_LABELS.fullmatch(ascii_host.lower()) is not None


def check_url(
    path: Path, value: object, *, schemes: tuple[str, ...], limit: int
) -> list[FieldError]:
    """A URL field as Discord checks it: its length, a supported scheme, a well-formed URL."""
    if not isinstance(value, str):
        return []
    if len(value) > limit:
        return [FieldError(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")]
    malformed = [FieldError(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")]
    if any(character.isspace() or not character.isprintable() for character in value):
        return malformed
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        return malformed
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        supported = ", ".join(repr(s) for s in schemes)
        return [
            FieldError(
                path,
                "URL_TYPE_INVALID_SCHEME",
                f'Scheme "{scheme}" is not supported. Scheme must be one of ({supported}).',
            )
        ]
    if scheme in ("attachment", "discord"):
        return [] if parts.netloc or parts.path else malformed
    if not _well_formed_host(parts.netloc, parts.hostname):
        return malformed
    return []


def embed_characters(embed: dict[str, Any]) -> int:
    """Characters counted toward the 6000 total: title, description, fields, footer, author."""
    total = 0
    for key in ("title", "description"):
        if isinstance(embed.get(key), str):
            total += len(embed[key])
    for item in embed.get("fields") or []:
        if isinstance(item, dict):
            total += len(item.get("name") or "") + len(item.get("value") or "")
    footer = embed.get("footer")
    if isinstance(footer, dict):
        total += len(footer.get("text") or "")
    author = embed.get("author")
    if isinstance(author, dict):
        total += len(author.get("name") or "")
    return total


def check_embed(path: Path, embed: object) -> list[FieldError]:
    if not isinstance(embed, dict):
        return []
    errors = _max_length((*path, "title"), embed.get("title"), EMBED_TITLE)
    errors += _max_length((*path, "description"), embed.get("description"), EMBED_DESCRIPTION)
    fields = embed.get("fields")
    if isinstance(fields, list):
        if len(fields) > EMBED_FIELDS:
            errors.append(
                FieldError(
                    (*path, "fields"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {EMBED_FIELDS} or fewer in length.",
                )
            )
        for index, item in enumerate(fields):
            if not isinstance(item, dict):
                continue
            where = (*path, "fields", index)
            errors += _required(where, item, "name") + _required(where, item, "value")
            errors += _max_length((*where, "name"), item.get("name"), EMBED_FIELD_NAME)
            errors += _max_length((*where, "value"), item.get("value"), EMBED_FIELD_VALUE)
    footer = embed.get("footer")
    if isinstance(footer, dict):
        errors += _max_length((*path, "footer", "text"), footer.get("text"), EMBED_FOOTER)
    author = embed.get("author")
    if isinstance(author, dict):
        errors += _max_length((*path, "author", "name"), author.get("name"), EMBED_AUTHOR_NAME)
    for keys, schemes in EMBED_URL_FIELDS:
        node: object = embed
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        errors += check_url((*path, *keys), node, schemes=schemes, limit=EMBED_URL)
    return errors


def check_message(body: object, path: Path = ()) -> list[FieldError]:
    """Limits for a message body: create, edit, webhook, follow-up or callback `data`."""
    if not isinstance(body, dict):
        return []
    errors = _max_length((*path, "content"), body.get("content"), MESSAGE_CONTENT)
    embeds = body.get("embeds")
    if isinstance(embeds, list):
        if len(embeds) > EMBEDS_PER_MESSAGE:
            errors.append(
                FieldError(
                    (*path, "embeds"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {EMBEDS_PER_MESSAGE} or fewer in length.",
                )
            )
        for index, embed in enumerate(embeds):
            errors += check_embed((*path, "embeds", index), embed)
        total = sum(embed_characters(embed) for embed in embeds if isinstance(embed, dict))
        if total > EMBEDS_TOTAL:
            errors.append(
                FieldError(
                    (*path, "embeds"),
                    "MAX_EMBED_SIZE_EXCEEDED",
                    f"Embed size exceeds maximum size of {EMBEDS_TOTAL}",
                )
            )
    components = body.get("components")
    if isinstance(components, list):
        components_v2 = bool(int(body.get("flags") or 0) & COMPONENTS_V2_FLAG)
        if not components_v2 and len(components) > ACTION_ROWS_PER_MESSAGE:
            errors.append(
                FieldError(
                    (*path, "components"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {ACTION_ROWS_PER_MESSAGE} or fewer in length.",
                )
            )
        errors += check_components((*path, "components"), components)
    return errors


def check_components(path: Path, components: list[Any]) -> list[FieldError]:
    """Rows, buttons, selects and text inputs, wherever they are nested."""
    errors: list[FieldError] = []
    for index, component in enumerate(components):
        errors += _check_component((*path, index), component)
    return errors


def _check_component(path: Path, component: object) -> list[FieldError]:
    if not isinstance(component, dict):
        return []
    errors: list[FieldError] = []
    children = component.get("components")
    if component.get("type") == 1 and isinstance(children, list):
        errors += _check_row(path, children)
    elif isinstance(children, list):
        errors += check_components((*path, "components"), children)
    # Labels (modals) hold one `component`; sections hold an `accessory`.
    for key in ("component", "accessory"):
        errors += _check_component((*path, key), component.get(key))
    return errors + _check_leaf(path, component)


def _check_row(path: Path, children: list[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    kinds = [child.get("type") for child in children if isinstance(child, dict)]
    buttons = kinds.count(2)
    selects = sum(1 for kind in kinds if kind in SELECT_TYPES)
    if buttons > BUTTONS_PER_ROW:
        errors.append(
            FieldError(
                (*path, "components"),
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {BUTTONS_PER_ROW} in length.",
            )
        )
    if selects > 1 or (selects and buttons):
        errors.append(
            FieldError(
                (*path, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        )
    return errors + check_components((*path, "components"), children)


def _check_leaf(path: Path, component: dict[str, Any]) -> list[FieldError]:
    kind = component.get("type")
    errors: list[FieldError] = []
    if "custom_id" in component:
        errors += _length_between((*path, "custom_id"), component.get("custom_id"), 1, CUSTOM_ID)
    if kind == 2:
        errors += _max_length((*path, "label"), component.get("label"), BUTTON_LABEL)
        is_link = component.get("style") == 5
        is_premium = component.get("style") == 6
        if not is_link and not is_premium and "custom_id" not in component:
            errors.append(
                FieldError((*path, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required")
            )
        if is_link and not component.get("url"):
            errors.append(
                FieldError((*path, "url"), "BASE_TYPE_REQUIRED", "This field is required")
            )
        elif is_link:
            errors += check_url(
                (*path, "url"), component.get("url"), schemes=BUTTON_SCHEMES, limit=LINK_BUTTON_URL
            )
    elif kind in SELECT_TYPES:
        errors += _max_length(
            (*path, "placeholder"), component.get("placeholder"), SELECT_PLACEHOLDER
        )
        options = component.get("options")
        if kind == 3:
            if not isinstance(options, list) or not 1 <= len(options) <= SELECT_OPTIONS:
                errors.append(
                    FieldError(
                        (*path, "options"),
                        "BASE_TYPE_BAD_LENGTH",
                        f"Must be between 1 and {SELECT_OPTIONS} in length.",
                    )
                )
            for index, option in enumerate(options if isinstance(options, list) else []):
                if not isinstance(option, dict):
                    continue
                where = (*path, "options", index)
                errors += _length_between(
                    (*where, "label"), option.get("label"), 1, SELECT_OPTION_TEXT
                )
                errors += _length_between(
                    (*where, "value"), option.get("value"), 1, SELECT_OPTION_TEXT
                )
                errors += _max_length(
                    (*where, "description"), option.get("description"), SELECT_OPTION_TEXT
                )
    elif kind == 4:
        errors += _max_length((*path, "label"), component.get("label"), TEXT_INPUT_LABEL)
        errors += _max_length((*path, "value"), component.get("value"), TEXT_INPUT_VALUE)
        errors += _max_length(
            (*path, "placeholder"), component.get("placeholder"), TEXT_INPUT_PLACEHOLDER
        )
        for key, low in (("min_length", 0), ("max_length", 1)):
            value = component.get(key)
            if isinstance(value, int) and not low <= value <= TEXT_INPUT_VALUE:
                errors.append(
                    FieldError(
                        (*path, key),
                        "NUMBER_TYPE_MAX" if value > TEXT_INPUT_VALUE else "NUMBER_TYPE_MIN",
                        f"Must be between {low} and {TEXT_INPUT_VALUE}.",
                    )
                )
    return errors


def check_modal(data: object, path: Path = ()) -> list[FieldError]:
    if not isinstance(data, dict):
        return []
    errors = _required(path, data, "title") + _required(path, data, "custom_id")
    errors += _length_between((*path, "title"), data.get("title"), 1, MODAL_TITLE)
    errors += _length_between((*path, "custom_id"), data.get("custom_id"), 1, CUSTOM_ID)
    components = data.get("components")
    if not isinstance(components, list) or not 1 <= len(components) <= MODAL_ROWS:
        errors.append(
            FieldError(
                (*path, "components"),
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {MODAL_ROWS} in length.",
            )
        )
    if isinstance(components, list):
        errors += check_components((*path, "components"), components)
    return errors


def check_autocomplete(data: object, path: Path = ()) -> list[FieldError]:
    if not isinstance(data, dict):
        return []
    choices = data.get("choices")
    if not isinstance(choices, list):
        return []
    errors: list[FieldError] = []
    if len(choices) > AUTOCOMPLETE_CHOICES:
        errors.append(
            FieldError(
                (*path, "choices"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {AUTOCOMPLETE_CHOICES} or fewer in length.",
            )
        )
    for index, choice in enumerate(choices):
        if isinstance(choice, dict):
            where = (*path, "choices", index)
            errors += _length_between((*where, "name"), choice.get("name"), 1, CHOICE_NAME)
            errors += _max_length((*where, "value"), choice.get("value"), CHOICE_STRING_VALUE)
    return errors


# Thread and forum post names (Discord's docs: 1-100 characters).
THREAD_NAME_MIN = 1
THREAD_NAME_MAX = 100


def check_thread_create(body: object) -> list[FieldError]:
    """Starting a thread (from a message, alone, or as a forum post with its first
    message): the name's length, and the forum post's message as any message."""
    if not isinstance(body, dict):
        return []
    errors = _length_between(("name",), body.get("name"), THREAD_NAME_MIN, THREAD_NAME_MAX)
    if isinstance(body.get("message"), dict):
        errors += check_message(body["message"], ("message",))
    return errors


def check_interaction_callback(body: object) -> list[FieldError]:
    if not isinstance(body, dict):
        return []
    kind = body.get("type")
    data = body.get("data")
    if kind in (4, 7):
        return check_message(data, ("data",))
    if kind == 9:
        return check_modal(data, ("data",))
    if kind == 8:
        return check_autocomplete(data, ("data",))
    return []


def check_commands(commands: object) -> list[FieldError]:
    """What Discord checks on a bulk overwrite beyond the schema."""
    if not isinstance(commands, list):
        return []
    errors: list[FieldError] = []
    seen: set[tuple[object, object]] = set()
    for index, command in enumerate(commands):
        if not isinstance(command, dict):
            continue
        key = (command.get("name"), command.get("type") or 1)
        if key in seen:
            errors.append(
                FieldError(
                    (index, "name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique: {key[0]}",
                )
            )
        seen.add(key)
        errors += _check_command(index, command)
    return errors


def _check_command(index: int, command: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    chat_input = (command.get("type") or 1) == 1
    name = command.get("name")
    if (
        chat_input
        and isinstance(name, str)
        and not (COMMAND_NAME.match(name) and name == name.lower())
    ):
        errors.append(
            FieldError(
                (index, "name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            )
        )
    if chat_input:
        errors += _length_between(
            (index, "description"), command.get("description"), 1, COMMAND_DESCRIPTION
        )
    errors += _check_options((index, "options"), command.get("options"))
    if _command_characters(command) > COMMAND_TOTAL_CHARACTERS:
        errors.append(
            FieldError(
                (index,),
                "APPLICATION_COMMAND_TOO_LARGE",
                f"Command exceeds maximum size ({COMMAND_TOTAL_CHARACTERS})",
            )
        )
    return errors


def _check_options(path: Path, options: object) -> list[FieldError]:
    if not isinstance(options, list):
        return []
    errors: list[FieldError] = []
    if len(options) > COMMAND_OPTIONS:
        errors.append(
            FieldError(
                path, "BASE_TYPE_MAX_LENGTH", f"Must be {COMMAND_OPTIONS} or fewer in length."
            )
        )
    optional_seen = False
    for index, option in enumerate(options):
        if not isinstance(option, dict):
            continue
        where = (*path, index)
        name = option.get("name")
        if isinstance(name, str) and not (COMMAND_NAME.match(name) and name == name.lower()):
            errors.append(
                FieldError((*where, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Name is invalid")
            )
        errors += _length_between(
            (*where, "description"), option.get("description"), 1, COMMAND_DESCRIPTION
        )
        if option.get("type") in (1, 2):
            errors += _check_options((*where, "options"), option.get("options"))
            continue
        if option.get("required"):
            if optional_seen:
                errors.append(
                    FieldError(
                        (*where, "required"),
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            optional_seen = True
        choices = option.get("choices")
        if isinstance(choices, list) and len(choices) > AUTOCOMPLETE_CHOICES:
            errors.append(
                FieldError(
                    (*where, "choices"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {AUTOCOMPLETE_CHOICES} or fewer in length.",
                )
            )
        if isinstance(choices, list) and choices and option.get("autocomplete"):
            errors.append(
                FieldError(
                    (*where, "autocomplete"),
                    "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                    "Autocomplete cannot be set with choices",
                )
            )
    return errors


def _command_characters(node: dict[str, Any]) -> int:
    total = len(node.get("name") or "") + len(node.get("description") or "")
    for choice in node.get("choices") or []:
        if isinstance(choice, dict):
            total += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    for option in node.get("options") or []:
        if isinstance(option, dict):
            total += _command_characters(option)
    return total
