"""The house rules on dependencies and errors, checked on the source so they cannot come back.

- `bot/` (the core) never imports `cogs/`, and never looks a cog up (`get_cog`): a cog passes
  what the core needs down to it instead.
- `bot/storage/` imports nothing above it: only `bot.storage.*` and foundation modules that
  themselves import nothing of the bot.
- No silent swallowing: no `contextlib.suppress(Exception)`, no bare `except:`, no broad
  `except Exception` whose handler neither logs, reports, re-raises nor calls anything, and
  every autocomplete callback goes through `logged_autocomplete` (logged, empty list).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Modules storage may use: plain values and parsing, importing nothing of the bot themselves.
FOUNDATION = frozenset({"bot.papers", "bot.pacing"})
BROAD = frozenset({"Exception", "BaseException"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from bot import storage` imports bot.storage
                yield node.lineno, f"{module}.{alias.name}"


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_the_core_never_imports_cogs() -> None:
    found = [
        f"{where(path, line)} imports {module}"
        for path in sources("bot")
        for line, module in imported_modules(path)
        if is_within(module, "cogs")
    ]
    assert found == []


def test_storage_imports_nothing_above_it() -> None:
    found: dict[str, str] = {}
    for path in sources("bot/storage"):
        for line, module in imported_modules(path):
            if not is_within(module, "bot") or is_within(module, "bot.storage"):
                continue
            if module in FOUNDATION or module.rsplit(".", 1)[0] in FOUNDATION:
                continue
            found.setdefault(where(path, line), module)  # the module, not each name
    assert [f"{place} imports {module}" for place, module in found.items()] == []


@pytest.mark.parametrize("module", sorted(FOUNDATION))
def test_foundation_modules_import_nothing_of_the_bot(module: str) -> None:
    path = ROOT / (module.replace(".", "/") + ".py")
    found = [
        f"{where(path, line)} imports {imported}"
        for line, imported in imported_modules(path)
        if is_within(imported, "bot") or is_within(imported, "cogs")
    ]
    assert found == []


def test_the_core_never_looks_a_cog_up() -> None:
    found = []
    for path in sources("bot"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"get_cog", "cogs"}:
                found.append(f"{where(path, node.lineno)} uses .{node.attr}")
    assert found == []


def _names(node: ast.expr | None) -> set[str]:
    if node is None:
        return set()
    if isinstance(node, ast.Tuple):
        return {name for element in node.elts for name in _names(element)}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.Name):
        return {node.id}
    return set()


def test_nothing_is_swallowed_silently() -> None:
    found = []
    for path in sources("bot", "cogs"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _names(node.func) & {"suppress"}:
                if any(_names(arg) & BROAD for arg in node.args):
                    found.append(f"{where(path, node.lineno)}: suppress() of every exception")
            elif isinstance(node, ast.ExceptHandler):
                if node.type is None:
                    found.append(f"{where(path, node.lineno)}: bare except")
                elif _names(node.type) & BROAD:
                    body = ast.Module(body=node.body, type_ignores=[])
                    acts = any(isinstance(n, ast.Raise | ast.Call) for n in ast.walk(body))
                    if not acts:
                        found.append(f"{where(path, node.lineno)}: broad except that does nothing")
    assert found == []


def test_every_autocomplete_logs_its_failures() -> None:
    found = []
    for path in sources("bot", "cogs"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
            names = {name for d in decorators for name in _names(d)}
            if "autocomplete" in names and "logged_autocomplete" not in names:
                found.append(f"{where(path, node.lineno)}: {node.name} is not logged")
    assert found == []
