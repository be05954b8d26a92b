"""Breaking a formula too wide for the card into lines, as a typesetter would by hand.

A formula is broken only between top-level terms: before a relation (`=`, `\\le`, `\\to`...)
or a binary `+`/`-`, never inside braces, `\\left...\\right`, an environment, parentheses or
brackets, nor in a script. The lines are set in an `aligned` block: lines that start with a
relation line up under the first line's relation, lines that continue a sum are indented
further, as in

    L(θ) &= a + b + c
         &\\quad + d + e
         &= f
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

BreakKind = Literal["relation", "operator"]

_RELATION_NAMES: Final = """
    le leq ge geq neq ne approx equiv sim simeq cong propto to rightarrow Rightarrow
    longrightarrow Longrightarrow leftarrow Leftarrow Leftrightarrow leftrightarrow iff
    implies impliedby coloneqq eqqcolon triangleq doteq ll gg prec succ preceq succeq
    lesssim gtrsim mapsto
"""
RELATION_COMMANDS: Final = frozenset(_RELATION_NAMES.split())
OPERATOR_COMMANDS: Final = frozenset({"pm", "mp"})
_TOKEN: Final = re.compile(r"\\([A-Za-z]+)|\\.|[^\\]", re.DOTALL)
_OPENERS: Final = "([{"
_CLOSERS: Final = ")]}"


@dataclass(frozen=True, slots=True)
class Break:
    index: int
    kind: BreakKind


@dataclass(frozen=True, slots=True)
class Wrapping:
    """A formula broken into lines, and the width of its widest line as measured in pieces
    (the broken formula, an `aligned` block, costs far more to lay out than its pieces)."""

    source: str
    widest: float


def find_breaks(source: str) -> list[Break]:
    """Where the formula may be broken: top-level relations and binary plus/minus."""
    breaks: list[Break] = []
    depth = 0  # braces, \left...\right, environments, parentheses and brackets together
    previous = ""  # the last token that was not a space, at any depth
    previous_start = 0
    for match in _TOKEN.finditer(source):
        token = match.group(0)
        name = match.group(1)
        if token.isspace():
            continue
        kind: BreakKind | None = None
        if name in ("left", "begin"):
            depth += 1
        elif name in ("right", "end"):
            depth -= 1
        elif token in _OPENERS or token in ("\\{", "\\langle"):
            depth += 1
        elif token in _CLOSERS or token in ("\\}", "\\rangle"):
            depth -= 1
        elif depth == 0 and _is_relation(token):
            kind = "relation"
        elif depth == 0 and (token in "+-" or name in OPERATOR_COMMANDS):
            kind = "operator" if _is_binary_after(previous) else None
        if kind == "relation" and (_is_relation(previous) or previous == ":"):
            # `<=`, `:=`, `\le =`: one relation written as two, broken before the first.
            if previous == ":" and previous_start > 0:
                breaks.append(Break(previous_start, "relation"))
        elif kind is not None and match.start() > 0:
            breaks.append(Break(match.start(), kind))
        previous, previous_start = token, match.start()
    return breaks


def _is_relation(token: str) -> bool:
    return token in ("=", "<", ">") or (token.startswith("\\") and token[1:] in RELATION_COMMANDS)


def _is_binary_after(previous: str) -> bool:
    """A `+`/`-` is binary when something it can follow comes before it (not `(`, `=`, `^`)."""
    if not previous:
        return False
    if previous in "^_&=<>+-,;:" or previous in _OPENERS:
        return False
    name = previous[1:] if previous.startswith("\\") else ""
    return name not in RELATION_COMMANDS and name not in OPERATOR_COMMANDS and name != "\\"


def wrap_formula(
    source: str,
    measure: Callable[[str], float],
    room: float,
    *,
    em: float,
) -> Wrapping | None:
    """The formula broken into lines at most `room` wide, or None when it cannot be broken.

    `measure(piece)` is the typeset width of a piece of the formula; pieces are joined
    greedily. `em` is the font size, for the indentation of continued lines.
    """
    if re.search(r"(?<!\\)&|\\\\", _top_level_text(source)):
        return None  # already laid out in rows or columns by its author
    breaks = find_breaks(source)
    if not breaks:
        return None
    cuts = [0, *(item.index for item in breaks), len(source)]
    pieces = [source[start:end].strip() for start, end in itertools.pairwise(cuts)]
    kinds: list[BreakKind | None] = [None, *(item.kind for item in breaks)]
    widths = [measure(piece) for piece in pieces]
    # A term typeset alone loses the spaces around its leading operator: count them back.
    spacing = 0.5 * em
    indent = 2.0 * em
    lines: list[list[int]] = [[0]]
    used = widest = widths[0]
    for index in range(1, len(pieces)):
        line_room = room if len(lines) == 1 else room - indent
        if used + spacing + widths[index] <= line_room:
            lines[-1].append(index)
            used += spacing + widths[index]
        else:
            lines.append([index])
            used = widths[index] + (indent if kinds[index] == "operator" else 0)
        widest = max(widest, used)
    if len(lines) == 1:
        return None
    return Wrapping(_aligned(pieces, kinds, lines), widest)


def _aligned(
    pieces: Sequence[str], kinds: Sequence[BreakKind | None], lines: Sequence[Sequence[int]]
) -> str:
    first = lines[0]
    relation_at = next((i for i in first if kinds[i] == "relation"), None)
    rows: list[str] = []
    if relation_at is None:
        rows.append("&" + " ".join(pieces[i] for i in first))
    else:
        before = " ".join(pieces[i] for i in first if i < relation_at)
        after = " ".join(pieces[i] for i in first if i >= relation_at)
        rows.append(f"{before} &{after}")
    for line in lines[1:]:
        text = " ".join(pieces[i] for i in line)
        rows.append(("&" if kinds[line[0]] == "relation" else "&\\quad ") + text)
    return "\\begin{aligned}" + " \\\\ ".join(rows) + "\\end{aligned}"


def _top_level_text(source: str) -> str:
    """The formula with every braced group and environment body removed."""
    output: list[str] = []
    depth = 0
    for match in _TOKEN.finditer(source):
        token, name = match.group(0), match.group(1)
        if token == "{" or name == "begin":
            depth += 1
        elif token == "}" or name == "end":
            depth -= 1
        elif depth == 0:
            output.append(token)
    return "".join(output)
