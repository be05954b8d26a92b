"""Screening a display formula before anything typesets it, and normalising it for that.

Runs in the bot's process, on every formula, before a worker sees it: cheap checks (a
single pass over the text) that refuse what could make a typesetter hang, recurse without
end or draw something enormous. A refused formula is shown in its Unicode form only.

Refused:
- formulas longer than `MAX_SOURCE_CHARS`, or with braces (or `\\left`/`\\begin`) nested
  deeper than `MAX_NESTING`, or more than `MAX_ROWS` rows / `MAX_CELLS` cells;
- anything that defines or expands macros (`\\def`, `\\newcommand`, `\\let`, `\\csname`...)
  or reaches outside the formula (`\\input`, `\\href`, `\\includegraphics`...);
- sizes larger than `MAX_DIMENSION_EM` in `\\rule`, `\\hspace`, `\\kern`, `\\\\[...]` and
  friends, and sizes that are not plain numbers with a unit (`\\hspace{\\x}`).

Normalised: `\\label`, `\\tag`, `\\nonumber` and `\\notag` are dropped (the bot numbers the
equations itself), a whole-formula `equation`/`displaymath` wrapper is unwrapped, `align`-like
environments become `aligned`, and `eqnarray` a three-column array, which is how a single
formula is typeset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

MAX_SOURCE_CHARS: Final = 2000
MAX_NESTING: Final = 24
MAX_ROWS: Final = 40
MAX_CELLS: Final = 400
MAX_COMMANDS: Final = 600
# 1em is about 10pt; a formula wider or taller than this is no formula.
MAX_DIMENSION_EM: Final = 8.0

# Commands that define, expand or reach outside: never typeset a formula holding one.
_FORBIDDEN_NAMES: Final = """
    def gdef edef xdef let futurelet newcommand renewcommand providecommand
    DeclareMathOperator DeclareRobustCommand newenvironment renewenvironment newif
    csname endcsname expandafter noexpand afterassignment aftergroup catcode uccode lccode
    input include usepackage RequirePackage require documentclass loop repeat iterate
    uppercase lowercase href url includegraphics unicode char mathchar chardef mathchardef
    count countdef dimen dimendef skip skipdef toks toksdef advance multiply divide
    number romannumeral string meaning special write read openin openout immediate
"""
FORBIDDEN_COMMANDS: Final = frozenset(_FORBIDDEN_NAMES.split())

# Commands whose braced arguments are sizes, and how many of those arguments they take.
_SIZED_COMMANDS: Final = {
    "hspace": 1,
    "vspace": 1,
    "hspace*": 1,
    "vspace*": 1,
    "mspace": 1,
    "rule": 2,
    "raisebox": 1,
}
# TeX primitives that take a size directly, without braces: `\kern 3pt`, `\mkern18mu`.
_INLINE_SIZED_COMMANDS: Final = frozenset({"kern", "mkern", "hskip", "mskip", "vskip", "moveleft"})

# Environments typeset as one formula: align-like ones become aligned, gather-like gathered.
_ALIGNED_ENVIRONMENTS: Final = frozenset(
    {"align", "align*", "alignat", "alignat*", "flalign", "flalign*", "split"}
)
_GATHERED_ENVIRONMENTS: Final = frozenset({"gather", "gather*", "multline", "multline*"})
_WRAPPER_ENVIRONMENTS: Final = frozenset(
    {"equation", "equation*", "displaymath", "math", "dmath", "dmath*"}
)

# Units to em (TeX's 10pt font: 1em = 10pt; 1mu = 1/18 em).
_EM_PER_UNIT: Final = {
    "em": 1.0,
    "ex": 0.43,
    "pt": 0.1,
    "bp": 0.1004,
    "pc": 1.2,
    "in": 7.227,
    "cm": 2.845,
    "mm": 0.2845,
    "dd": 0.107,
    "cc": 1.284,
    "sp": 0.1 / 65536,
    "mu": 1 / 18,
    "px": 0.075,
}
_DIMENSION: Final = re.compile(
    r"\s*([+-]?(?:\d{1,6}(?:[.,]\d{0,6})?|[.,]\d{1,6}))\s*(" + "|".join(_EM_PER_UNIT) + r")\s*",
)
_COMMAND: Final = re.compile(r"\\([A-Za-z]+\*?|.)", re.DOTALL)
_DROPPED_WITH_ARGUMENT: Final = re.compile(r"\\(?:label|tag\*?)\s*\{[^{}]*\}")
_DROPPED_ALONE: Final = re.compile(r"\\(?:nonumber|notag)(?![A-Za-z])")
_ROW_SPACING: Final = re.compile(r"\\\\\s*\[([^\]]*)\]")
_ENVIRONMENT_NAME: Final = re.compile(r"\\(begin|end)\s*\{([A-Za-z]+\*?)\}")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a formula is not typeset (for logs and tests; readers just see the Unicode form)."""

    reason: str


def prepare_formula(source: str) -> str | Refusal:
    """The formula ready for the typesetter, or why it must not be typeset."""
    if len(source) > MAX_SOURCE_CHARS:
        return Refusal(f"longer than {MAX_SOURCE_CHARS} characters")
    if not source.strip():
        return Refusal("empty")
    problem = _structure_problem(source)
    if problem is not None:
        return Refusal(problem)
    problem = _command_problem(source)
    if problem is not None:
        return Refusal(problem)
    return _normalise(source)


def _structure_problem(source: str) -> str | None:
    """Nesting, rows and cells, counted in one pass that skips escaped characters."""
    depth = 0
    rows = cells = 0
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char == "\\":
            following = source[index + 1 : index + 2]
            if following == "\\":
                rows += 1
            index += 2
            continue
        if char == "{":
            depth += 1
            if depth > MAX_NESTING:
                return f"braces nested deeper than {MAX_NESTING}"
        elif char == "}":
            depth -= 1
            if depth < 0:
                return "a closing brace without an opening one"
        elif char == "&":
            cells += 1
        index += 1
    if depth != 0:
        return "unbalanced braces"
    if rows > MAX_ROWS:
        return f"more than {MAX_ROWS} rows"
    if cells > MAX_CELLS:
        return f"more than {MAX_CELLS} cells"
    environments = _environment_nesting(source)
    if environments is not None:
        return environments
    return None


def _environment_nesting(source: str) -> str | None:
    """`\\begin`/`\\end` pairs balanced and not nested too deep; `\\left`/`\\right` too."""
    open_environments: list[str] = []
    for match in _ENVIRONMENT_NAME.finditer(source):
        kind, name = match.groups()
        if kind == "begin":
            open_environments.append(name)
            if len(open_environments) > MAX_NESTING:
                return f"environments nested deeper than {MAX_NESTING}"
        elif not open_environments or open_environments.pop() != name:
            return f"\\end{{{name}}} does not close the open environment"
    if open_environments:
        return f"\\begin{{{open_environments[-1]}}} is never closed"
    depth = 0
    for match in re.finditer(r"\\(left|right)(?![A-Za-z])", source):
        depth += 1 if match.group(1) == "left" else -1
        if depth > MAX_NESTING:
            return f"\\left nested deeper than {MAX_NESTING}"
        if depth < 0:
            return "\\right without \\left"
    if depth != 0:
        return "\\left without \\right"
    return None


def _command_problem(source: str) -> str | None:
    for commands, match in enumerate(_COMMAND.finditer(source), start=1):
        name = match.group(1)
        if commands > MAX_COMMANDS:
            return f"more than {MAX_COMMANDS} commands"
        if name in FORBIDDEN_COMMANDS:
            return f"\\{name} is not allowed"
        if name in _SIZED_COMMANDS:
            problem = _sized_arguments(source, match.end(), name)
            if problem is not None:
                return problem
        elif name in _INLINE_SIZED_COMMANDS:
            size = _DIMENSION.match(source, match.end())
            if size is None or not _dimension_ok(size):
                return f"\\{name} needs a size of at most {MAX_DIMENSION_EM:g}em"
    for spacing in _ROW_SPACING.finditer(source):
        size = _DIMENSION.fullmatch(spacing.group(1))
        if size is None or not _dimension_ok(size):
            return f"row spacing needs a size of at most {MAX_DIMENSION_EM:g}em"
    return None


def _sized_arguments(source: str, index: int, name: str) -> str | None:
    """Check the size arguments after `\\name` (an optional `[...]` one included)."""
    index = _skip_spaces(source, index)
    if source.startswith("[", index):
        closing = source.find("]", index)
        if closing < 0:
            return f"\\{name} has an unclosed optional argument"
        size = _DIMENSION.fullmatch(source, index + 1, closing)
        if name == "rule" and (size is None or not _dimension_ok(size)):
            return f"\\{name} raised by more than {MAX_DIMENSION_EM:g}em"
        index = _skip_spaces(source, closing + 1)
    for _ in range(_SIZED_COMMANDS[name]):
        if not source.startswith("{", index):
            return f"\\{name} needs its size in braces"
        closing = source.find("}", index)
        size = _DIMENSION.fullmatch(source, index + 1, closing) if closing > 0 else None
        if size is None or not _dimension_ok(size):
            return f"\\{name} needs a size of at most {MAX_DIMENSION_EM:g}em"
        index = _skip_spaces(source, closing + 1)
    return None


def _skip_spaces(source: str, index: int) -> int:
    while index < len(source) and source[index].isspace():
        index += 1
    return index


def _dimension_ok(match: re.Match[str]) -> bool:
    number = float(match.group(1).replace(",", "."))
    return abs(number) * _EM_PER_UNIT[match.group(2)] <= MAX_DIMENSION_EM


def _normalise(source: str) -> str:
    text = _DROPPED_WITH_ARGUMENT.sub("", source)
    text = _DROPPED_ALONE.sub("", text)
    text = text.strip()
    wrapper = re.fullmatch(r"\\begin\{([A-Za-z]+\*?)\}(.*)\\end\{\1\}", text, re.DOTALL)
    if wrapper is not None and wrapper.group(1) in _WRAPPER_ENVIRONMENTS:
        text = wrapper.group(2).strip()

    def rename(match: re.Match[str]) -> str:
        kind, name = match.groups()
        if name in _ALIGNED_ENVIRONMENTS:
            return f"\\{kind}{{aligned}}"
        if name in _GATHERED_ENVIRONMENTS:
            return f"\\{kind}{{gathered}}"
        if name in ("eqnarray", "eqnarray*"):
            return "\\begin{array}{rcl}" if kind == "begin" else "\\end{array}"
        return match.group(0)

    # alignat's column count argument has no meaning for aligned.
    text = re.sub(r"(\\begin\{alignat\*?\})\s*\{\d+\}", r"\1", text)
    return _ENVIRONMENT_NAME.sub(rename, text)
