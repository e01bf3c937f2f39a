"""Which open Jira tickets might already be about a Sentry issue: ranked by title similarity.

Read from the synced ``work_items`` (not from Jira), so the modal opens within Slack's 3-second
trigger window whatever Jira's latency. A ticket filed since the last sync is not offered, but
can still be typed into the modal's key field.

Similarity is the mean of rapidfuzz's ``token_set_ratio`` (how much of the shorter text the
other one contains) and ``token_sort_ratio`` (which punishes a length mismatch), on lower-cased,
punctuation-free text with CamelCase split ("PaymentGatewayTimeout" matches "payment gateway
timeout"). Either alone misleads: the first ranks a three-word summary that shares two words
at the top, the second misses a summary that words the same error differently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from rapidfuzz import fuzz, process, utils
from sqlalchemy.orm import Session

from storage.models import WorkItem

STRONG = 85.0  # at or above this, Create suggests linking the ticket instead
MAX_OPTIONS = 100  # Slack's limit of options in a static select
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
KEY = re.compile(r"^([A-Z][A-Z0-9_]{0,19})-([1-9][0-9]{0,9})$")


@dataclass(frozen=True)
class Candidate:
    key: str
    summary: str
    url: str | None
    status: str
    score: float


def rank(
    session: Session, *, projects: Sequence[str], title: str, limit: int = MAX_OPTIONS
) -> list[Candidate]:
    """Open tickets of ``projects``, most similar to ``title`` first (ties: newest first)."""
    if not projects:
        return []
    rows = session.execute(
        sa.select(WorkItem.key, WorkItem.summary, WorkItem.url, WorkItem.original_status)
        .where(WorkItem.project_key.in_(list(projects)), WorkItem.status != "done")
        .order_by(WorkItem.created_at.desc())
    ).all()
    if not rows:
        return []
    wanted = _words(title)
    scored = process.extract(
        wanted, [_words(row.summary) for row in rows], scorer=similarity, limit=None
    )
    ordered = sorted(scored, key=lambda hit: (-hit[1], hit[2]))[:limit]
    return [
        Candidate(
            key=rows[index].key,
            summary=rows[index].summary,
            url=rows[index].url,
            status=rows[index].original_status or "open",
            score=round(score, 1),
        )
        for _, score, index in ordered
    ]


def similarity(a: str, b: str, **_: object) -> float:
    """0-100 for two texts already put through `_words`."""
    return (fuzz.token_set_ratio(a, b) + fuzz.token_sort_ratio(a, b)) / 2


def _words(text: str) -> str:
    return str(utils.default_process(_CAMEL.sub(r"\1 \2", text)))


def strong_match(candidates: Sequence[Candidate]) -> Candidate | None:
    best = candidates[0] if candidates else None
    return best if best is not None and best.score >= STRONG else None


def normalise_key(text: str) -> str:
    """A key as typed (" pay-12 ", a browse URL) -> "PAY-12"; unchanged when it is neither."""
    cleaned = text.strip().rstrip("/")
    cleaned = cleaned.rsplit("/", 1)[-1] if "/browse/" in cleaned else cleaned
    return cleaned.upper()


def known_keys(session: Session, projects: Sequence[str]) -> list[str]:
    return list(
        session.scalars(sa.select(WorkItem.key).where(WorkItem.project_key.in_(list(projects))))
    )


def suggest_keys(text: str, keys: Sequence[str], limit: int = 3) -> list[str]:
    """The keys closest to what someone typed, for a "did you mean" line."""
    found = process.extract(text, keys, scorer=fuzz.ratio, limit=limit, score_cutoff=60)
    return [key for key, _, _ in found]
