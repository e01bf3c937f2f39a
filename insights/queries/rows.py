"""Rows from Python as a table in a query, in a statement that compiles once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY


def rows_table(
    name: str, columns: Sequence[sa.ColumnClause[Any]], rows: Sequence[Sequence[Any]]
) -> Any:
    """``rows`` as the table ``name(columns...)``: ``unnest(:a, :b, ...)``, one bound array per
    column.

    ``VALUES (...), (...)`` would say the same, but its text grows with the rows, so SQLAlchemy
    compiles it anew for every call (~5 ms for the ~50 rows of an organisation's repos or
    boards). With arrays the text is the same whatever the rows: compiled once per process.
    """
    arrays = [
        sa.bindparam(f"{name}_{column.name}", [row[i] for row in rows], type_=ARRAY(column.type))
        for i, column in enumerate(columns)
    ]
    return sa.func.unnest(*arrays).table_valued(*columns).render_derived(name=name)
