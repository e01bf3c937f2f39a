"""Each fake answers exactly as the official API description says, for every request a sync makes.

The collector syncs the small sandbox through `prism proxy --errors` standing in front of the
fake: any response that drifts from the spec becomes a 500 listing the violations, so the scope
fails and the test shows Prism's log. (Pages after the first follow the fake's own absolute
`Link` URLs, as they would at the real service, so they reach the fake directly.)
tests/collectors/test_conformance_check.py shows the same Prism does flag a broken answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL

from bot.sandbox import FAKES
from collectors.fakes import FakeServer
from collectors.runner import run_sync
from collectors.sandbox.generator import generate
from storage.db import session_scope
from storage.products import apply_products
from tests.collectors.prism import SPECS, prism_proxy

WORLD = generate("small", seed=11)
SPEC_FILES = {
    "sentry": ["sentry.json"],
    "jira": ["jira-platform.json", "jira-agile.json"],
    "github": ["github.json"],
}


def merged_spec(names: list[str], directory: Path) -> Path:
    """One spec from several (Jira's platform and agile APIs share a base URL).

    Schema names collide between the two with different definitions, so every later spec's
    components are renamed with a prefix and its references rewritten.
    """
    if len(names) == 1:
        return SPECS / names[0]
    merged = json.loads((SPECS / names[0]).read_text())
    for index, name in enumerate(names[1:], start=1):
        prefix = f"S{index}"
        text = (SPECS / name).read_text()
        other = json.loads(
            re.sub(r'"#/components/(\w+)/([^"/]+)"', rf'"#/components/\1/{prefix}\2"', text)
        )
        merged["paths"].update(other["paths"])
        for kind, items in other.get("components", {}).items():
            if kind == "securitySchemes":
                continue  # the same schemes; keep the first spec's names
            target = merged.setdefault("components", {}).setdefault(kind, {})
            target.update({f"{prefix}{key}": value for key, value in items.items()})
    path = directory / "merged.json"
    path.write_text(json.dumps(merged))
    return path


@pytest.mark.parametrize("source", sorted(SPEC_FILES))
def test_every_answer_a_sync_receives_matches_the_spec(
    source: str, database_url: URL, tmp_path: Path
) -> None:
    engine = sa.create_engine(database_url)
    with session_scope(engine) as session:
        apply_products(session, WORLD.products)
    spec = merged_spec(SPEC_FILES[source], tmp_path)
    log = tmp_path / "prism.log"
    module = FAKES[source]
    with (
        FakeServer(module.create_app(WORLD)) as fake,
        prism_proxy(str(spec), fake.url, log) as url,
    ):
        env = module.sandbox_env(url) | {"SITREP_HTTP_ATTEMPTS": "1"}
        reports = run_sync(engine, sources=[source], env=env)
    failed = [(r.scope, r.error) for r in reports if r.status != "succeeded"]
    assert failed == [], f"{failed}\n--- prism log (tail) ---\n{log.read_text()[-3000:]}"
    assert sum(r.rows for r in reports) > 0
    engine.dispose()
