"""Where SQLite and PostgreSQL truly differ, as small named helpers for the repositories.

SQL is written once, with `?` placeholders (or `:name` where a statement names them); the
PostgreSQL connection turns them into `$1, $2, ...`. What cannot be written the same on both
engines goes through a `Dialect`, taken from the connection or the database
(`conn.dialect`, `db.dialect`):

- a list bound as one parameter (`in_list`, `list_param`): SQLite reads a JSON array with
  `json_each`, PostgreSQL compares with `= ANY(array)`;
- many rows in one statement (`bound_rows`): on SQLite a `VALUES` list of bound parameters
  (nothing to encode or decode); on PostgreSQL one JSON array of arrays read by
  `jsonb_array_elements` (one parameter, whatever the row count), each column's type
  spelled out;
- `FOR UPDATE` row locks (`for_update`, and `skip_locked` to pass over rows another
  transaction holds, as processes claiming work do): PostgreSQL only; SQLite has one writer
  at a time;
- the current Unix time in SQL (`unix_now`).

Upserts (`INSERT ... ON CONFLICT`), `RETURNING`, `FILTER`, `lower()` and `||` are the same on
both and need no helper.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

EngineName = Literal["sqlite", "postgresql"]

# Column types bound_rows can spell out on PostgreSQL.
_PG_TYPES: Final = frozenset({"bigint", "double precision", "text", "boolean"})
# Parameters one statement may bind: SQLite's limit is 32,766 (since 3.32; this project
# needs 3.35 for RETURNING), PostgreSQL's wire protocol 32,767.
MAX_BOUND_PARAMETERS: Final = 32_000
# Rows bound per statement by bound_rows (fewer when that many would pass the limit above).
# Measured on SQLite for 1,900 summaries: 29 ms in statements of 128 rows, 37 ms of 512,
# 45 ms in one statement (and 92 ms when that one had to be prepared first).
ROWS_PER_STATEMENT: Final = 128


@dataclass(frozen=True, slots=True)
class BoundRows:
    """A table expression over rows and the parameters it binds, in order."""

    table: str
    params: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: EngineName

    @property
    def is_postgresql(self) -> bool:
        return self.name == "postgresql"

    def in_list(self, column: str, placeholder: str = "?", *, negate: bool = False) -> str:
        """`column IN (the list bound at placeholder)` (or NOT IN), the list bound with
        `list_param`. An empty list matches nothing (with `negate`: everything)."""
        if self.is_postgresql:
            return f"{column} <> ALL({placeholder})" if negate else f"{column} = ANY({placeholder})"
        operator = "NOT IN" if negate else "IN"
        return f"{column} {operator} (SELECT value FROM json_each({placeholder}))"

    def list_param(self, values: Iterable[Any]) -> Any:
        """The value to bind for an `in_list` placeholder."""
        if self.is_postgresql:
            return list(values)
        return json.dumps(list(values))

    def bound_rows(
        self, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
    ) -> list[BoundRows]:
        """`rows` as table expressions for `INSERT ... SELECT` or `UPDATE ... FROM`, each
        with its parameters: one column per `(name, type)` in order, plus `position` (the
        row's index in `rows`, to keep their order). Types are PostgreSQL's: bigint, double
        precision, text, boolean. On PostgreSQL one expression, whatever the row count, unless
        a NUL forbids JSON; otherwise (SQLite, or such rows) one per ROWS_PER_STATEMENT rows."""
        for _, sql_type in columns:
            if sql_type not in _PG_TYPES:
                raise ValueError(f"bound_rows cannot read {sql_type!r} columns")
        if not rows:
            return []
        if self.is_postgresql and not _holds_nul(rows):
            return [BoundRows(self._json_rows(columns), (_rows_json(rows),))]
        # SQLite: binding is far cheaper than encoding every text as JSON and decoding it
        # again (measured: a third of the time for 2,000 summaries). PostgreSQL: JSON
        # cannot carry a NUL character, so such rows are bound one value at a time too
        # (its connection turns NUL into U+FFFD, as for any parameter).
        #
        # Every statement has ROWS_PER_STATEMENT rows, the last padded with rows of NULLs
        # that the expression leaves out: one statement text per set of columns, prepared
        # once and reused from the connection's statement cache. A text per batch size
        # filled that cache with big prepared statements (100 MB more memory after an
        # import of 100,000) and prepared each anew.
        per_row = len(columns) + 1
        size = max(1, min(ROWS_PER_STATEMENT, MAX_BOUND_PARAMETERS // per_row))
        cast = self.is_postgresql
        placeholders = ", ".join(
            f"CAST(? AS {sql_type})" if cast else "?" for _, sql_type in (*columns, ("", "bigint"))
        )
        names = ", ".join(
            f"column{index} AS {name}"
            for index, name in enumerate([*(name for name, _ in columns), "position"], start=1)
        )
        values = ", ".join([f"({placeholders})"] * size)
        table = (
            f"(SELECT {names} FROM (VALUES {values}) AS bound_row"
            f" WHERE column{per_row} IS NOT NULL)"
        )
        chunks = []
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            params = [
                value
                for position, row in enumerate(chunk, start=start)
                for value in (*row, position)
            ]
            params += [None] * (per_row * (size - len(chunk)))
            chunks.append(BoundRows(table, tuple(params)))
        return chunks

    def _json_rows(self, columns: Sequence[tuple[str, str]]) -> str:
        selected = ", ".join(
            f"CAST(value ->> {index} AS {sql_type}) AS {name}"
            for index, (name, sql_type) in enumerate(columns)
        )
        return (
            f"(SELECT {selected}, position FROM jsonb_array_elements("
            "CAST(? AS jsonb)) WITH ORDINALITY AS json_row(value, position))"
        )

    @property
    def for_update(self) -> str:
        """` FOR UPDATE` on PostgreSQL (lock the rows read until the transaction ends);
        nothing on SQLite, whose write transactions run one at a time anyway."""
        return " FOR UPDATE" if self.is_postgresql else ""

    @property
    def skip_locked(self) -> str:
        """` FOR UPDATE SKIP LOCKED` on PostgreSQL: lock the rows read, passing over those
        another transaction holds (two processes claiming work at once never get the same
        row, and neither waits for the other); nothing on SQLite, where one write
        transaction runs at a time and so sees every claim made before it."""
        return " FOR UPDATE SKIP LOCKED" if self.is_postgresql else ""

    @property
    def unix_now(self) -> str:
        """An SQL expression for the current Unix time in whole seconds."""
        if self.is_postgresql:
            return "CAST(extract(epoch FROM now()) AS bigint)"
        return "unixepoch()"


SQLITE: Final = Dialect("sqlite")
POSTGRESQL: Final = Dialect("postgresql")


def _holds_nul(rows: Sequence[Sequence[Any]]) -> bool:
    return any(isinstance(value, str) and "\x00" in value for row in rows for value in row)


def _rows_json(rows: Sequence[Sequence[Any]]) -> str:
    # Not ASCII-escaped: shorter, and the database need not decode the escapes.
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
