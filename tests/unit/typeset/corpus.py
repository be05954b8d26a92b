"""The corpus of real display formulas in `tests/fixtures/math/display_formulas.tex`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CORPUS_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "math" / "display_formulas.tex"


@dataclass(frozen=True)
class Formula:
    origin: str
    tex: str


def load_corpus(path: Path = CORPUS_FILE) -> list[Formula]:
    """Entries: a `% origin` line, then the formula's lines up to the next such line."""
    formulas: list[Formula] = []
    origin: str | None = None
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("% "):
            if origin is not None and lines:
                formulas.append(Formula(origin, "\n".join(lines)))
            origin, lines = line[2:], []
        elif origin is not None and line.strip():
            lines.append(line)
    if origin is not None and lines:
        formulas.append(Formula(origin, "\n".join(lines)))
    return formulas


CORPUS = load_corpus()
