"""Validate request bodies against Discord's own OpenAPI description (openapi.json).

The file lives beside the project (`../shared/discord-api-spec/openapi.json`) and is never
copied into it. It is parsed once per test session (`load_spec` caches it); each operation's
validator is compiled on first use and cached too.

Refs `#/components/...` are rewritten to point into one registry resource holding the
components, so every sub-schema can be validated on its own with Draft 2020-12.

Leniencies, each because Discord itself accepts what the spec would reject:
- `SnowflakeType` also accepts non-negative integers: Discord reads integer ids in request
  bodies, and discord.py sends some as integers (attachment indexes, for one).
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.emulator.errors import FieldError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = PROJECT_ROOT.parent / "shared" / "discord-api-spec" / "openapi.json"
COMPONENTS_URI = "urn:discord-api-spec:components"
HTTP_METHODS = ("get", "put", "post", "patch", "delete")
MESSAGE_LIMIT = 300


@dataclass
class SpecOperation:
    """One path + method of the spec, with its request-body validators compiled lazily."""

    method: str
    template: str
    operation_id: str
    body_schema: dict[str, Any] | None
    registry: Registry = field(repr=False)
    _validator: Draft202012Validator | None = field(default=None, repr=False)
    _by_type: dict[int, Draft202012Validator] | None = field(default=None, repr=False)

    def validate(self, body: object) -> list[FieldError]:
        if self.body_schema is None:
            return []
        validator = self._pick_validator(body)
        errors: list[FieldError] = []
        for error in validator.iter_errors(body):
            errors.extend(_leaf_errors(error))
        return _dedupe(errors)

    def _pick_validator(self, body: object) -> Draft202012Validator:
        """For a union keyed by `type` (interaction callbacks), validate the matching branch."""
        assert self.body_schema is not None
        if self._validator is None:
            self._validator = Draft202012Validator(self.body_schema, registry=self.registry)
            self._by_type = self._branches_by_type()
        if isinstance(body, dict) and self._by_type and body.get("type") in self._by_type:
            return self._by_type[body["type"]]
        return self._validator

    def _branches_by_type(self) -> dict[int, Draft202012Validator]:
        assert self.body_schema is not None
        branches = self.body_schema.get("anyOf") or self.body_schema.get("oneOf") or []
        result: dict[int, Draft202012Validator] = {}
        resolver = self.registry.resolver()
        for branch in branches:
            resolved = resolver.lookup(branch["$ref"]).contents if "$ref" in branch else branch
            enum = (resolved.get("properties", {}).get("type") or {}).get("enum")
            if not isinstance(enum, list):
                return {}
            for value in enum:
                result[value] = Draft202012Validator(branch, registry=self.registry)
        return result


class DiscordSpec:
    """The parsed spec: find the operation for a request and validate its body."""

    def __init__(self, document: dict[str, Any], path: Path) -> None:
        self.path = path
        components = _rewrite_refs(document["components"])
        _allow_integer_snowflakes(components)
        self.registry: Registry = Registry().with_resource(
            COMPONENTS_URI, DRAFT202012.create_resource({"components": components})
        )
        self.operations: list[tuple[re.Pattern[str], tuple[int, ...], SpecOperation]] = []
        for template, item in document["paths"].items():
            pattern, specificity = _compile_template(template)
            for method in HTTP_METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                body_schema = _json_body_schema(operation)
                self.operations.append(
                    (
                        pattern,
                        specificity,
                        SpecOperation(
                            method=method.upper(),
                            template=template,
                            operation_id=operation.get("operationId", ""),
                            body_schema=_rewrite_refs(body_schema) if body_schema else None,
                            registry=self.registry,
                        ),
                    )
                )
        # Literal segments beat parameters: `/messages/pins` before `/messages/{message_id}`.
        self.operations.sort(key=lambda entry: entry[1], reverse=True)

    def find_operation(self, method: str, path: str) -> SpecOperation | None:
        for pattern, _specificity, operation in self.operations:
            if operation.method == method.upper() and pattern.fullmatch(path):
                return operation
        return None

    def path_exists(self, path: str) -> bool:
        return any(pattern.fullmatch(path) for pattern, _s, _o in self.operations)


_CACHE: dict[Path, DiscordSpec | None] = {}


def load_spec(path: Path = SPEC_PATH) -> DiscordSpec | None:
    """The spec, parsed once per process; None (with a warning) when the file is absent."""
    path = path.resolve()
    if path not in _CACHE:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            _CACHE[path] = None
        else:
            _CACHE[path] = DiscordSpec(document, path)
    if _CACHE[path] is None:
        warnings.warn(spec_missing_reason(path) or "", stacklevel=2)
    return _CACHE[path]


def spec_missing_reason(path: Path = SPEC_PATH) -> str | None:
    """Why spec validation is off, or None when the spec file is there."""
    if path.is_file():
        return None
    return (
        f"Discord's OpenAPI spec is not at {path}: request bodies are NOT validated "
        "against the spec in this run (every other emulator check still runs)."
    )


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        rewritten = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                rewritten[key] = COMPONENTS_URI + value
            else:
                rewritten[key] = _rewrite_refs(value)
        return rewritten
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def _allow_integer_snowflakes(components: dict[str, Any]) -> None:
    snowflake = components["schemas"]["SnowflakeType"]
    components["schemas"]["SnowflakeType"] = {
        "anyOf": [copy.deepcopy(snowflake), {"type": "integer", "minimum": 0}]
    }


def _json_body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = (operation.get("requestBody") or {}).get("content") or {}
    body = content.get("application/json")
    return None if body is None else body.get("schema")


def _compile_template(template: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    parts = template.strip("/").split("/")
    regex = "".join("/[^/]+" if part.startswith("{") else "/" + re.escape(part) for part in parts)
    specificity = tuple(0 if part.startswith("{") else 1 for part in parts)
    return re.compile(regex), specificity


def _leaf_errors(error: ValidationError) -> list[FieldError]:
    """Turn a jsonschema error into field errors, descending into the right union branch."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        branch = _best_branch(error)
        if branch is not None:
            result: list[FieldError] = []
            for sub in branch:
                result.extend(_leaf_errors(sub))
            return result
    return [_field_error(error)]


def _best_branch(error: ValidationError) -> list[ValidationError] | None:
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    instance = error.instance
    candidates = []
    for errors in by_branch.values():
        wrong_kind = any(
            list(sub.relative_path) == ["type"] and isinstance(instance, dict) for sub in errors
        )
        wrong_json_type = any(sub.validator == "type" and not sub.relative_path for sub in errors)
        if not wrong_kind and not wrong_json_type:
            candidates.append(errors)
    if not candidates:
        return None
    return min(candidates, key=len)


def _field_error(error: ValidationError) -> FieldError:
    path = tuple(error.absolute_path)
    value = error.validator_value
    match error.validator:
        case "maxLength" | "maxItems":
            return FieldError(path, "BASE_TYPE_MAX_LENGTH", f"Must be {value} or fewer in length.")
        case "minLength" | "minItems":
            return FieldError(path, "BASE_TYPE_MIN_LENGTH", f"Must be {value} or more in length.")
        case "required":
            instance = error.instance if isinstance(error.instance, dict) else {}
            required = value if isinstance(value, list) else []
            missing = [key for key in required if key not in instance]
            where = (*path, missing[0]) if missing else path
            return FieldError(where, "BASE_TYPE_REQUIRED", "This field is required")
        case "maximum":
            return FieldError(path, "NUMBER_TYPE_MAX", f"Must be less than or equal to {value}.")
        case "minimum":
            return FieldError(path, "NUMBER_TYPE_MIN", f"Must be greater than or equal to {value}.")
        case "enum" | "const":
            return FieldError(path, "BASE_TYPE_CHOICES", f"Value must be one of {value!r}.")
        case "type":
            return FieldError(path, "BASE_TYPE_INVALID", f"Must be of type {value!r} (spec).")
        case _:
            message = error.message
            if len(message) > MESSAGE_LIMIT:
                message = message[:MESSAGE_LIMIT] + "..."
            return FieldError(path, "SPEC_" + str(error.validator).upper(), message)


def _dedupe(errors: Iterable[FieldError]) -> list[FieldError]:
    seen: set[FieldError] = set()
    result = []
    for error in errors:
        if error not in seen:
            seen.add(error)
            result.append(error)
    return result
