"""Every `/command` a user is told about exists, as written (issue 9).

The announcements once ended with "Read it all with `/summary id:N`", a command that never
existed. This test collects every slash command named in a user-facing string of `bot/` and
`cogs/` (messages, help texts, hints, option descriptions; docstrings and comments are not
shown to anyone) and in the README, and checks each against the commands the bot really
synced to Discord: the command, its sub-command, and the options named after it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.bot import ShortScienceBot
from tests.emulator import DiscordEmulator

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "bot").rglob("*.py")), *sorted((ROOT / "cogs").rglob("*.py"))]
README = ROOT / "README.md"

# `/name` not inside a URL or path (`https://x.org/abs`, `/channels/{id}`), then what follows
# it on the line: sub-commands and `option:value` pairs.
MENTION = re.compile(r"(?<![\w/.:<>{}-])/([a-z][a-z0-9_-]{0,31})(?![\w/.{-])([^\n`]*)")
WORD = re.compile(r"[a-z][a-z0-9_-]{0,31}")
OPTION = re.compile(r"([a-z][a-z0-9_-]{0,31}):")
SUBCOMMAND, GROUP = 1, 2
# What a regular expression's text has and a message never does.
REGEX_MARKERS = ("(?P<", "(?:")
# The HTTP paths the bot serves to operators (METRICS_PORT), not commands.
HTTP_PATHS = frozenset({"metrics", "healthz"})


@dataclass(frozen=True)
class Mention:
    where: str
    text: str  # the command as written, and what follows it on the line
    in_code: bool  # written in backticks: everything up to the closing one is the command


def user_strings(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal in a Python file except docstrings; an f-string's
    placeholders read as `{}`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [
                value.value if isinstance(value, ast.Constant) else "{}" for value in node.values
            ]
            yield node.lineno, "".join(str(part) for part in parts)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def mentions_in(text: str, where: str) -> Iterator[Mention]:
    for match in MENTION.finditer(text):
        in_code = match.start() > 0 and text[match.start() - 1] == "`"
        yield Mention(where, match.group(0), in_code)


def all_mentions() -> list[Mention]:
    found: list[Mention] = []
    for path in SOURCES:
        for line, text in user_strings(path):
            # Regular expressions and HTML comment markers (`<!-- /body -->`) are not messages.
            regex = any(m in text for m in REGEX_MARKERS) or text.endswith("$")
            if regex or "<!--" in text:
                continue
            found += mentions_in(text, f"{path.relative_to(ROOT)}:{line}")
    for number, readme_line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        for span in re.findall(r"`([^`]+)`", readme_line):
            found += mentions_in("`" + span, f"README.md:{number}")
    return found


# Read once, while the test modules are collected: no other thread runs then. CPython 3.11's
# AST constructor counts its recursion depth in state the threads share, so parsing while the
# bot's threads parse too can fail with "AST constructor recursion depth mismatch"
# (python/cpython#106905).
MENTIONS: list[Mention] = all_mentions()


def problem(mention: Mention, commands: dict[str, dict[str, Any]]) -> str | None:
    """Why `mention` names no real command (or None when it does)."""
    words = [word.rstrip(".,;!?)") for word in mention.text[1:].split()]
    name, rest = words[0], [word for word in words[1:] if word]
    if name in HTTP_PATHS:
        return None
    command = commands.get(name)
    if command is None:
        return f"there is no /{name}"
    node = command
    while True:
        children = {o["name"]: o for o in node.get("options") or [] if o["type"] in (1, 2)}
        if not children:
            break
        if not rest or (not mention.in_code and not WORD.fullmatch(rest[0].split("|")[0])):
            return None  # "/feed" alone names the group
        alternatives = rest.pop(0).split("|")  # `/summary edit|delete|restore`
        unknown = [word for word in alternatives if word not in children]
        if unknown:
            return f"/{name} has no sub-command {unknown[0]!r} (it has {sorted(children)})"
        node = children[alternatives[0]]
    options = {o["name"] for o in node.get("options") or []}
    for word in rest if mention.in_code else rest[:1]:
        option = OPTION.match(word)
        if option is not None and option.group(1) not in options:
            return f"{mention.text.split()[0]} has no option {option.group(1)!r}"
    return None


def test_the_scanner_finds_the_wrong_names_it_is_meant_to_catch() -> None:
    commands = {
        "summary": {
            "name": "summary",
            "options": [{"name": "view", "type": 1, "options": [{"name": "id", "type": 4}]}],
        },
        "latest": {"name": "latest", "options": [{"name": "count", "type": 4}]},
    }

    def check(text: str) -> list[str | None]:
        return [problem(m, commands) for m in mentions_in(text, "test")]

    assert check("Read it all with `/summary id:42`")[0] is not None
    assert check("Open it with `/summary view id:42`") == [None]
    assert check("see them with `/latest`.") == [None]
    assert check("`/latest count:5` or `/latest number:5`")[1] is not None
    assert check("Run /summarize again.")[0] == "there is no /summarize"
    assert check("https://x.org/summary and /channels/{id}/messages and a/b") == []


async def test_every_command_named_to_users_exists(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    synced = await emulator.wait_for_commands(emulator.guild)
    commands = {c["name"]: c for c in synced if (c.get("type") or 1) == 1}
    mentions = MENTIONS
    names = {m.text[1:].split()[0] for m in mentions}
    assert {"feed", "summary", "search", "latest", "summarize"} <= names, names  # it looks
    problems = [
        f"{m.where}: {m.text.strip()!r}: {reason}"
        for m in mentions
        if (reason := problem(m, commands)) is not None
    ]
    assert problems == []
