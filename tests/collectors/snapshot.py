"""Compare two databases by content, not by surrogate ids.

Serial ids differ between runs (an upsert that hits a conflict still draws from the sequence),
so a snapshot replaces every id with the natural key of the row it stands for: foreign keys
become the referenced row's ``(source, external_id)``. Bookkeeping that legitimately differs
(`synced_at`, `sync_runs`, cursor timestamps) is left out.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.models import Base

SKIP_TABLES = {"sync_runs"}
SKIP_COLUMNS = {"id", "synced_at", "updated_at"}
SKIP_TABLE_COLUMNS = {"products": {"created_at"}}  # when our own row was made, not source data


def _natural(table: sa.Table, alias: sa.FromClause) -> list[sa.ColumnElement[Any]]:
    """The columns that identify a row of ``table`` across databases, read from ``alias``."""
    if "external_id" in table.c:
        names = ["source", "external_id"]
    elif table.name == "products":
        names = ["name"]
    else:
        names = [c.name for c in table.primary_key.columns]
    return [alias.c[name] for name in names]


_LOCAL_SERVER = re.compile(r"http://127\.0\.0\.1:\d+")


def _hashable(value: Any) -> Any:
    """JSONB as canonical JSON text; the fake's address (a new port each run) as one name."""
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, str):
        return _LOCAL_SERVER.sub("http://fake", value)
    return value


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    result: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in SKIP_TABLES:
                continue
            columns: list[sa.ColumnElement[Any]] = []
            query_from: sa.FromClause = table
            for column in table.c:
                if column.name in SKIP_COLUMNS | SKIP_TABLE_COLUMNS.get(table.name, set()):
                    continue
                fks = list(column.foreign_keys)
                if fks:
                    referred = fks[0].column.table
                    assert isinstance(referred, sa.Table)
                    target = referred.alias(f"{table.name}_{column.name}")
                    query_from = query_from.outerjoin(target, column == target.c.id)
                    columns.extend(
                        c.label(f"{column.name}_{c.name}") for c in _natural(referred, target)
                    )
                else:
                    columns.append(column)
            rows = conn.execute(sa.select(*columns).select_from(query_from)).all()
            result[table.name] = sorted((tuple(_hashable(v) for v in r) for r in rows), key=repr)
    return result


def differences(
    a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]]
) -> list[str]:
    """Human-readable differences, empty when the snapshots are equal."""
    problems = []
    for table in sorted(set(a) | set(b)):
        left, right = set(a.get(table, [])), set(b.get(table, []))
        if left != right:
            only_left, only_right = sorted(left - right, key=repr), sorted(right - left, key=repr)
            problems.append(
                f"{table}: {len(a.get(table, []))} vs {len(b.get(table, []))} rows; "
                f"only in first {only_left[:2]}; only in second {only_right[:2]}"
            )
        elif len(a.get(table, [])) != len(b.get(table, [])):
            problems.append(f"{table}: duplicate rows ({len(a[table])} vs {len(b[table])})")
    return problems
