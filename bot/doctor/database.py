"""The database checks: reachable, migrated to head, products loaded.

Read-only: unlike every other command, the doctor applies no migration; it says whether one is
pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.doctor.model import Check, Status, first_line
from storage import db, migrate
from storage.errors import StorageError
from storage.queries import product_tree

_KINDS = {
    "sentry_project": "Sentry projects",
    "jira_project": "Jira projects",
    "jira_board": "Jira boards",
    "github_repo": "repos",
}


def check_database(env: Mapping[str, str]) -> list[Check]:
    """``database``, then ``migrations``, then ``products`` when the schema is at head."""
    configured = env.get("DATABASE_URL", "").strip()
    where = "DATABASE_URL"
    fix = "check DATABASE_URL, or unset it to use the embedded PostgreSQL"
    try:
        if configured:
            url = db.normalise_url(configured)
            where = db.describe(url)
        else:
            pgdata = _data_dir(env) / "postgres"
            where = f"embedded PostgreSQL in {pgdata}"
            fix = f"see {pgdata / 'log'}, or set DATABASE_URL to an existing PostgreSQL"
            url = db.embedded_server_url(pgdata.parent)
        engine = db.get_engine(url)
        with engine.connect() as conn:
            version = ".".join(map(str, conn.dialect.server_version_info or ()))
    except StorageError as exc:
        return [Check("database", Status.FAIL, str(exc), fix)]
    except SQLAlchemyError as exc:
        reason = first_line(getattr(exc, "orig", None) or exc)
        return [Check("database", Status.FAIL, f"cannot connect to {where}: {reason}", fix)]
    checks = [Check("database", Status.OK, f"{where} (PostgreSQL {version})")]
    migrations = _check_migrations(engine)
    checks.append(migrations)
    if migrations.status is Status.OK:
        checks.append(_check_products(engine))
    return checks


def _data_dir(env: Mapping[str, str]) -> Path:
    """`storage.db.data_dir`, read from ``env`` rather than the process environment."""
    configured = env.get("SITREP_DATA_DIR", "").strip()
    return Path(configured).expanduser().resolve() if configured else db.data_dir()


def _check_migrations(engine: Engine) -> Check:
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current == head:
        return Check("migrations", Status.OK, f"at the latest revision ({head})")
    upgrade = "run `sitrep db upgrade` (any other command applies them too)"
    if current is None:
        return Check("migrations", Status.WARN, "the database is empty: no tables yet", upgrade)
    script = ScriptDirectory.from_config(migrate.alembic_config())
    try:
        pending = len(list(script.iterate_revisions(head, current)))  # current excluded
    except RevisionError:  # a revision this code base has no script for
        return Check(
            "migrations",
            Status.FAIL,
            f"the database is at revision {current}, which this Sitrep does not know "
            "(a newer Sitrep migrated it)",
            "upgrade Sitrep, or point DATABASE_URL at another database",
        )
    return Check(
        "migrations",
        Status.WARN,
        f"{pending} pending (database at {current}, code at {head})",
        upgrade,
    )


def _check_products(engine: Engine) -> Check:
    with db.session_scope(engine) as session:
        tree = product_tree(session)
    if not tree:
        return Check(
            "products",
            Status.WARN,
            "no products yet: a sync has nothing to fetch and reports nothing to show",
            "`sitrep products apply FILE` (or set SITREP_PRODUCTS); "
            "collectors/sandbox/products.yaml is an example",
        )
    counts = {kind: sum(len(n.mappings.get(kind, ())) for n in tree) for kind in _KINDS}
    mapped = ", ".join(f"{n} {_KINDS[k]}" for k, n in counts.items() if n) or "nothing mapped"
    return Check("products", Status.OK, f"{len(tree)} active products; {mapped}")
