"""The write side: bulk, idempotent upserts.

`upsert_rows` streams rows into a temporary staging table with PostgreSQL's ``COPY`` and merges
them with one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` per batch. That is several times
faster than multi-row ``VALUES`` inserts (bench/upsert.py measures both against a plain COPY),
except for a handful of rows (`SMALL_BATCH`, what incremental syncs mostly write), which go in
one ``INSERT ... VALUES ... ON CONFLICT`` instead of four statements. Either way the semantics
are the ones we need:

- the same rows twice change nothing: the update only fires ``WHERE`` a column really differs, so
  an unchanged row is neither rewritten nor has its ``synced_at`` bumped;
- a changed row is updated in place (same ``id``), so foreign keys to it stay valid;
- only the columns present in the rows are written, so a partial row (a list endpoint that lacks
  the detail fields) never blanks out what a detail fetch stored.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session

from storage.models import Base

DEFAULT_BATCH = 5_000
# Up to this many rows, one INSERT ... VALUES ... ON CONFLICT is cheaper than staging them with
# COPY (four statements and a temporary table): an incremental sync's batches are mostly tiny.
SMALL_BATCH = 10
# Written by the database, never by a caller; bumped only when a row really changed.
_SYNCED_AT = "synced_at"


@dataclass(frozen=True)
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


def conflict_key(table: sa.Table) -> tuple[str, ...]:
    """The natural key: ``(source, external_id)`` for source rows, else the primary key."""
    if {"source", "external_id"} <= set(table.c.keys()):
        return ("source", "external_id")
    return tuple(c.name for c in table.primary_key.columns)


def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def upsert_rows(
    session: Session,
    model: type[Base],
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = DEFAULT_BATCH,
) -> UpsertResult:
    """Insert new rows and update changed ones, keyed on `conflict_key`; return what happened.

    Every row must carry the same columns, including the whole key. Within one call the last
    row for a key wins (PostgreSQL refuses to touch one row twice in a statement).
    """
    table: sa.Table = model.__table__  # type: ignore[assignment]
    key = conflict_key(table)
    total = UpsertResult()
    columns: tuple[str, ...] | None = None
    for batch in _batches(rows, batch_size):
        if columns is None:
            columns = _columns_of(table, batch[0], key)
        total += _upsert_batch(session, table, key, columns, _dedupe(batch, key, columns))
    return total


def _columns_of(table: sa.Table, row: Mapping[str, Any], key: Sequence[str]) -> tuple[str, ...]:
    unknown = set(row) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
    missing = set(key) - set(row)
    if missing:
        raise ValueError(f"rows for {table.name} lack key column(s) {sorted(missing)}")
    return tuple(c.name for c in table.columns if c.name in row and c.name != _SYNCED_AT)


def _dedupe(
    batch: list[Mapping[str, Any]], key: Sequence[str], columns: Sequence[str]
) -> list[Mapping[str, Any]]:
    by_key: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in batch:
        if len(row) != len(columns) + (_SYNCED_AT in row) or not all(c in row for c in columns):
            raise ValueError(f"every row in one upsert must have the same columns: {list(columns)}")
        by_key[tuple(row[k] for k in key)] = row
    return list(by_key.values())


def _upsert_batch(
    session: Session,
    table: sa.Table,
    key: Sequence[str],
    columns: Sequence[str],
    batch: list[Mapping[str, Any]],
) -> UpsertResult:
    if len(batch) <= SMALL_BATCH:
        return _upsert_values(session, table, key, columns, batch)
    # One staging table per column set: two upserts of different shapes may share a transaction.
    stage = f"_stage_{table.name[:40]}_{zlib.crc32(','.join(columns).encode()):08x}"
    cols = ", ".join(f'"{c}"' for c in columns)
    conn = session.connection()
    conn.exec_driver_sql(
        f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DROP AS '
        f'SELECT {cols} FROM "{table.name}" WITH NO DATA'
    )
    conn.exec_driver_sql(f'TRUNCATE "{stage}"')

    adapt = _adapter(table, columns)
    raw_conn = conn.connection.driver_connection
    assert raw_conn is not None
    with raw_conn.cursor() as cur, cur.copy(f'COPY "{stage}" ({cols}) FROM STDIN') as copy:
        for row in batch:
            copy.write_row(adapt(row))

    result = conn.exec_driver_sql(_merge_sql(table, key, columns, stage)).one()
    inserted, updated = int(result[0]), int(result[1])
    return UpsertResult(inserted, updated, len(batch) - inserted - updated)


def _upsert_values(
    session: Session,
    table: sa.Table,
    key: Sequence[str],
    columns: Sequence[str],
    batch: list[Mapping[str, Any]],
) -> UpsertResult:
    """A small batch in one statement: the same merge, its rows as parameters, not staged."""
    adapt = _adapter(table, columns)
    params = [value for row in batch for value in adapt(row)]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # INSERT coerces every VALUES row to the columns' types, as COPY into the stage does.
    source = "VALUES " + ", ".join([placeholders] * len(batch))
    conn = session.connection()
    result = conn.exec_driver_sql(_merge_sql(table, key, columns, source), tuple(params)).one()
    inserted, updated = int(result[0]), int(result[1])
    return UpsertResult(inserted, updated, len(batch) - inserted - updated)


def _adapter(table: sa.Table, columns: Sequence[str]) -> Callable[[Mapping[str, Any]], list[Any]]:
    """A row's values in ``columns`` order, JSONB values wrapped so psycopg sends them as JSON."""
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSONB)}

    def adapt(row: Mapping[str, Any]) -> list[Any]:
        return [
            Jsonb(row[c]) if c in json_columns and row[c] is not None else row[c] for c in columns
        ]

    return adapt


def _merge_sql(table: sa.Table, key: Sequence[str], columns: Sequence[str], source: str) -> str:
    """The merge of ``source`` (a staging table's name, or a VALUES list) into ``table``."""
    cols = ", ".join(f'"{c}"' for c in columns)
    conflict = ", ".join(f'"{k}"' for k in key)
    data = [c for c in columns if c not in key]
    if data:
        assignments = [f'"{c}" = EXCLUDED."{c}"' for c in data]
        if _SYNCED_AT in table.c:
            assignments.append(f'"{_SYNCED_AT}" = now()')
        current = ", ".join(f't."{c}"' for c in data)
        incoming = ", ".join(f'EXCLUDED."{c}"' for c in data)
        # ROW() keeps the comparison a row comparison even with a single column.
        action = (
            f"DO UPDATE SET {', '.join(assignments)} "
            f"WHERE ROW({current}) IS DISTINCT FROM ROW({incoming})"
        )
    else:
        action = "DO NOTHING"
    # xmax = 0 marks a freshly inserted tuple; an updated one carries the updating xid.
    rows = source if source.startswith("VALUES ") else f'SELECT {cols} FROM "{source}"'
    return (
        f'WITH merged AS (INSERT INTO "{table.name}" AS t ({cols}) '
        f"{rows} ON CONFLICT ({conflict}) {action} "
        "RETURNING (t.xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
    )


def ids_by_external_id(
    session: Session, model: type[Base], source: str, external_ids: Iterable[str]
) -> dict[str, int]:
    """Map external ids to row ids, to link child rows (transitions, reviews) to their parents."""
    table: sa.Table = model.__table__  # type: ignore[assignment]
    wanted = list(set(external_ids))
    if not wanted:
        return {}
    # One array parameter (= ANY), not one parameter per id: the planner then probes the
    # (source, external_id) index instead of comparing every row with every id.
    ids = sa.bindparam("external_ids", wanted, type_=ARRAY(sa.String))
    query = sa.select(table.c.external_id, table.c.id).where(
        table.c.source == source, table.c.external_id == sa.any_(ids)
    )
    return {str(row.external_id): int(row.id) for row in session.execute(query)}
