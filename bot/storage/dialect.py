"""Where SQLite and PostgreSQL truly differ, as small named helpers for the repositories.

SQL is written once, with `?` placeholders (or `:name` where a statement names them); the
PostgreSQL connection turns them into `$1, $2, ...`. What cannot be written the same on both
engines goes through a `Dialect`, taken from the connection or the database
(`conn.dialect`, `db.dialect`):

- a list bound as one parameter (`in_list`, `list_param`): SQLite reads a JSON array with
  `json_each`, PostgreSQL compares with `= ANY(array)`;
- many rows bound as one parameter (`json_rows`): a JSON array of arrays, read by
  `json_each` or `jsonb_array_elements` (PostgreSQL needs each column's type spelled out);
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

# Column types json_rows knows how to read back from JSON on PostgreSQL.
_PG_TYPES: Final = frozenset({"bigint", "double precision", "text", "boolean"})


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

    def json_rows(self, columns: Sequence[tuple[str, str]], placeholder: str = "?") -> str:
        """A table expression over rows bound as one JSON array of arrays (`rows_param`):
        one column per `(name, type)` in order, plus `position` (the row's index, to keep
        the rows' order). Types are PostgreSQL's: bigint, double precision, text, boolean."""
        for _, sql_type in columns:
            if sql_type not in _PG_TYPES:
                raise ValueError(f"json_rows cannot read {sql_type!r} columns")
        if self.is_postgresql:
            selected = ", ".join(
                f"CAST(value ->> {index} AS {sql_type}) AS {name}"
                for index, (name, sql_type) in enumerate(columns)
            )
            return (
                f"(SELECT {selected}, position FROM jsonb_array_elements(CAST({placeholder} AS"
                " jsonb)) WITH ORDINALITY AS json_row(value, position))"
            )
        selected = ", ".join(
            f"value ->> {index} AS {name}" for index, (name, _) in enumerate(columns)
        )
        return f"(SELECT {selected}, key AS position FROM json_each({placeholder}))"

    def rows_param(self, rows: Sequence[Sequence[Any]]) -> str | None:
        """Rows as one JSON array of arrays for `json_rows`; None when a text holds a NUL
        character (SQLite's JSON functions cut text there, PostgreSQL refuses it): bind
        those rows one by one instead."""
        for row in rows:
            for value in row:
                if isinstance(value, str) and "\x00" in value:
                    return None
        # Not ASCII-escaped: shorter, and the database need not decode the escapes.
        return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))

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
