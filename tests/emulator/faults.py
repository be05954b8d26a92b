"""Injected faults (429s, error statuses, slow replies) and the route patterns they match.

A pattern is `"METHOD /path"` or just `"/path"` (any method), the path being relative to the
API base (`/channels/123/messages`). In the path, `{name}` matches one segment, `*` any run
of characters inside a segment and `**` anything, slashes included. Examples:

    "POST /channels/{channel_id}/messages"
    "PATCH /webhooks/*/*/messages/@original"
    "/interactions/**"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class RoutePattern:
    method: str | None
    regex: re.Pattern[str]
    text: str

    @classmethod
    def parse(cls, pattern: str) -> RoutePattern:
        method: str | None = None
        path = pattern.strip()
        head, _, rest = path.partition(" ")
        if head.upper() in HTTP_METHODS | {"*"} and rest:
            method = None if head == "*" else head.upper()
            path = rest.strip()
        if not path.startswith("/"):
            raise ValueError(f"route pattern {pattern!r} must have a path starting with '/'")
        regex = ""
        for token in re.split(r"(\{[^}/]+\}|\*\*|\*)", path):
            if token == "**":
                regex += ".*"
            elif token == "*":
                regex += "[^/]*"
            elif token.startswith("{") and token.endswith("}"):
                regex += "[^/]+"
            else:
                regex += re.escape(token)
        return cls(method=method, regex=re.compile(regex), text=pattern)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.regex.fullmatch(path.split("?", 1)[0]) is not None


@dataclass
class Fault:
    """One injected fault; `times=None` means every matching request, forever."""

    pattern: RoutePattern
    kind: str  # "rate_limit", "error", "delay" or "delay_reply"
    times: int | None
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hits: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class Faults:
    """Test-facing control of injected faults: `emu.faults.rate_limit(...)` and friends."""

    def __init__(self) -> None:
        self.rules: list[Fault] = []

    def rate_limit(
        self,
        pattern: str,
        *,
        times: int = 1,
        retry_after: float = 0.05,
        global_: bool = False,
        scope: str = "user",
        with_via_header: bool = True,
    ) -> Fault:
        """Answer the next `times` matching requests with 429, shaped so discord.py retries.

        `with_via_header=False` mimics a Cloudflare ban: discord.py then raises instead.
        """
        headers = {
            "Retry-After": str(max(1, round(retry_after + 0.4999))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Scope": "global" if global_ else scope,
        }
        if global_:
            headers["X-RateLimit-Global"] = "true"
        if with_via_header:
            headers["Via"] = "1.1 google"
        body = {"message": "You are being rate limited.", "retry_after": retry_after}
        body["global"] = global_
        fault = Fault(
            pattern=RoutePattern.parse(pattern),
            kind="rate_limit",
            times=times,
            status=429,
            body=body,
            headers=headers,
        )
        self.rules.append(fault)
        return fault

    def error(
        self,
        pattern: str,
        *,
        status: int = 500,
        times: int | None = 1,
        code: int = 0,
        message: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` and a Discord error body.

        Note discord.py retries 500/502/504 itself after sleeping 1 s, 3 s, ...
        """
        fault = Fault(
            pattern=RoutePattern.parse(pattern),
            kind="error",
            times=times,
            status=status,
            body=body
            if body is not None
            else {"message": message or f"{status}: fault", "code": code},
        )
        self.rules.append(fault)
        return fault

    def delay(self, pattern: str, seconds: float, *, times: int | None = None) -> Fault:
        """Hold matching requests `seconds` before handling them normally."""
        fault = Fault(pattern=RoutePattern.parse(pattern), kind="delay", times=times, delay=seconds)
        self.rules.append(fault)
        return fault

    def delay_reply(self, pattern: str, seconds: float, *, times: int | None = 1) -> Fault:
        """Handle matching requests at once (a message is created) but hold the reply
        `seconds`: the client learns the outcome late, or never if it dies meanwhile."""
        fault = Fault(
            pattern=RoutePattern.parse(pattern), kind="delay_reply", times=times, delay=seconds
        )
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        self.rules.clear()

    def take(self, method: str, path: str) -> tuple[float, float, Fault | None]:
        """Consume the faults for one request: the delay before handling it, the delay
        before replying, and the failing fault if any."""
        delay = reply_delay = 0.0
        failing: Fault | None = None
        for fault in self.rules:
            if fault.exhausted or not fault.pattern.matches(method, path):
                continue
            if fault.kind == "delay":
                fault.hits += 1
                delay += fault.delay
            elif fault.kind == "delay_reply":
                fault.hits += 1
                reply_delay += fault.delay
            elif failing is None:
                fault.hits += 1
                failing = fault
        return delay, reply_delay, failing
