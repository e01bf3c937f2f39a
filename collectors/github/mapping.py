"""Pure GitHub payload -> domain row functions. Every GitHub quirk we rely on is one comment here.

Rows are plain dicts for `storage.repository.upsert_rows`. ``raw`` keeps the payload minus what
is bulky and redundant (the ``*_url`` fields, ``_links``, node ids, embedded repository and user
objects, which become a full name or a login), so a mapping fix can be replayed from it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

SOURCE = "github"
Json = dict[str, Any]
Row = dict[str, Any]

REVIEW_STATES = {
    "APPROVED": "approved",
    "CHANGES_REQUESTED": "changes_requested",
    "COMMENTED": "commented",
    "DISMISSED": "dismissed",
    "PENDING": "pending",
}
ENVIRONMENTS = {
    "production": "production",
    "prod": "production",
    "live": "production",
    "staging": "staging",
    "stage": "staging",
}
DEPLOYMENT_STATES = {
    "success": "success",
    "failure": "failure",
    "error": "error",
    "in_progress": "in_progress",
    "queued": "queued",
    "pending": "queued",  # GitHub's "pending": created, not yet picked up
    "inactive": "inactive",
}
TERMINAL_STATES = ("success", "failure", "error")
RUN_CONCLUSIONS = {
    "success": "success",
    "failure": "failure",
    "timed_out": "failure",
    "startup_failure": "failure",
}
RUN_STATUSES = {  # a run that has not completed yet
    "in_progress": "in_progress",
    "queued": "queued",
    "requested": "queued",
    "waiting": "queued",
    "pending": "queued",
}
_SHA = re.compile(r"^[0-9a-f]{40}$")
_NOISE = frozenset({"node_id", "_links", "url"})


def parse_time(value: Any) -> dt.datetime | None:
    """GitHub timestamps are ISO 8601 in UTC with a ``Z``: ``2026-03-01T10:00:00Z``."""
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)


def login_of(user: Any) -> str | None:
    # A deleted account comes back as null (GitHub shows it as "ghost").
    return user.get("login") if isinstance(user, dict) else None


def slim(payload: Json) -> Json:
    """The payload without URLs, node ids and ``_links``; users become logins, repos names."""
    out: Json = {}
    for key, value in payload.items():
        if key in _NOISE or key.endswith("_url"):
            continue
        if isinstance(value, dict) and "login" in value:
            out[key] = value["login"]
        elif isinstance(value, dict) and "full_name" in value:
            out[key] = value["full_name"]
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------- pull requests


def pull_external_id(repo: str, number: int) -> str:
    return f"{repo}#{number}"


def _commit_dates(commit: Json) -> list[Any]:
    git = commit.get("commit") or {}
    return [(git.get(role) or {}).get("date") for role in ("author", "committer")]


def first_commit_at(commits: Iterable[Json]) -> dt.datetime | None:
    """The earliest author or committer date: rebases rewrite the committer date, not the
    author's, so the author date is usually the earlier (and truer) start of the work."""
    times = [parse_time(date) for commit in commits for date in _commit_dates(commit)]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def first_review_at(author: str | None, reviews: Iterable[Json]) -> dt.datetime | None:
    """The earliest submitted review by someone other than the author.

    Authors replying in their own PR show up as COMMENTED reviews; pending reviews have no
    ``submitted_at`` (only their author can see them).
    """
    times = [
        parse_time(r.get("submitted_at"))
        for r in reviews
        if login_of(r.get("user")) != author and r.get("state") != "PENDING"
    ]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def to_pull_request(repo: str, pull: Json, reviews: list[Json], commits: list[Json]) -> Row:
    """A PR row from the single-PR payload (the list lacks the size fields) and its
    reviews and commits."""
    author = login_of(pull.get("user"))
    merged_at = parse_time(pull.get("merged_at"))
    original = pull["state"]
    # GitHub has no "merged" state: a merged PR is "closed" with merged_at set.
    state = "merged" if merged_at else ("closed" if original == "closed" else "open")
    raw = slim({k: v for k, v in pull.items() if k not in ("head", "base", "labels")})
    raw["head"] = {k: pull["head"].get(k) for k in ("label", "ref", "sha")}
    raw["base"] = {k: pull["base"].get(k) for k in ("label", "ref", "sha")}
    raw["labels"] = [label["name"] for label in pull.get("labels") or []]
    raw["commit_dates"] = [[c.get("sha"), *_commit_dates(c)] for c in commits]
    return {
        "source": SOURCE,
        "external_id": pull_external_id(repo, pull["number"]),
        "url": pull.get("html_url"),
        "raw": raw,
        "repo": repo,
        "number": pull["number"],
        "title": pull.get("title") or "",
        "author": author,
        "state": state,
        "original_state": original,
        "head_branch": (pull.get("head") or {}).get("ref"),
        "base_branch": (pull.get("base") or {}).get("ref"),
        "labels": raw["labels"],
        "first_commit_at": first_commit_at(commits),
        "created_at": parse_time(pull["created_at"]),
        "updated_at": parse_time(pull.get("updated_at")),
        "first_review_at": first_review_at(author, reviews),
        "merged_at": merged_at,
        "closed_at": parse_time(pull.get("closed_at")),
        # Open PRs carry the sha of a test merge that never lands: keep only real merges.
        "merge_commit_sha": pull.get("merge_commit_sha") if merged_at else None,
        "additions": pull.get("additions"),
        "deletions": pull.get("deletions"),
        "changed_files": pull.get("changed_files"),
        "commits": pull.get("commits"),
    }


def to_review(review: Json, pull_request_id: int) -> Row:
    original = str(review.get("state") or "")
    return {
        "source": SOURCE,
        "external_id": str(review["id"]),
        "url": review.get("html_url"),
        "raw": slim(review),
        "pull_request_id": pull_request_id,
        "reviewer": login_of(review.get("user")),
        # Unknown future states count as comments; original_state keeps the truth.
        "state": REVIEW_STATES.get(original, "commented"),
        "original_state": original or None,
        "submitted_at": parse_time(review.get("submitted_at")),
    }


# ---------------------------------------------------------------- deployments


def normalise_environment(name: str | None) -> str:
    """``production``/``prod``/``live`` -> production, ``staging``/``stage`` -> staging."""
    lowered = (name or "").strip().lower()
    return ENVIRONMENTS.get(lowered, lowered or "unknown")


def to_deployment(repo: str, deployment: Json, statuses: list[Json]) -> Row:
    """A deployment row; its status comes from its statuses, not from the deployment.

    GitHub marks a superseded successful deployment ``inactive`` (auto_inactive): that is not a
    failure, so the normalised status is the latest status that is not ``inactive``, while
    ``original_status`` says what GitHub reports now.
    """
    ordered = sorted(statuses, key=lambda s: (parse_time(s.get("created_at")), s.get("id", 0)))
    latest = ordered[-1] if ordered else None
    active = [s for s in ordered if s.get("state") != "inactive"]
    effective = active[-1] if active else latest
    # No status yet: GitHub shows such a deployment as waiting.
    status = DEPLOYMENT_STATES.get(effective["state"], "other") if effective else "queued"
    started = next(
        (s for s in ordered if s.get("state") in ("in_progress", "queued", "pending")), None
    )
    finished = effective if effective and effective.get("state") in TERMINAL_STATES else None
    link = next((s.get("log_url") or s.get("target_url") for s in reversed(ordered)), None)
    raw = slim(deployment)
    raw["statuses"] = [[s.get("id"), s.get("state"), s.get("created_at")] for s in ordered]
    return {
        "source": SOURCE,
        "external_id": str(deployment["id"]),
        "url": link or None,
        "raw": raw,
        "repo": repo,
        "origin": "deployment",
        "environment": normalise_environment(deployment.get("environment")),
        "original_environment": deployment.get("environment"),
        "status": status,
        "original_status": latest.get("state") if latest else None,
        "sha": deployment.get("sha"),
        "ref": deployment.get("ref"),
        "started_at": parse_time(started["created_at"] if started else deployment["created_at"]),
        "finished_at": parse_time(finished["created_at"]) if finished else None,
    }


def workflow_run_external_id(run_id: int) -> str:
    # Run ids and deployment ids are separate id spaces: prefix runs so they never collide.
    return f"workflow_run:{run_id}"


def to_workflow_deployment(repo: str, run: Json) -> Row:
    """A deploy workflow run as a production deployment (for repos without Deployments)."""
    conclusion, run_status = run.get("conclusion"), run.get("status")
    if run_status == "completed":
        # cancelled, skipped, neutral, stale, action_required: not a failed change.
        status = RUN_CONCLUSIONS.get(conclusion or "", "other")
    else:
        status = RUN_STATUSES.get(run_status or "", "other")
    return {
        "source": SOURCE,
        "external_id": workflow_run_external_id(run["id"]),
        "url": run.get("html_url"),
        "raw": slim({k: v for k, v in run.items() if k != "head_commit"}),
        "repo": repo,
        "origin": "workflow_run",
        "environment": "production",
        "original_environment": None,
        "status": status,
        "original_status": conclusion or run_status,
        "sha": run.get("head_sha"),
        "ref": run.get("head_branch"),
        "started_at": parse_time(run.get("run_started_at") or run.get("created_at")),
        # A completed run's updated_at is when it finished (re-runs move it on).
        "finished_at": parse_time(run.get("updated_at")) if run_status == "completed" else None,
    }


def to_release(repo: str, release: Json) -> Row:
    commitish = str(release.get("target_commitish") or "")
    return {
        "source": SOURCE,
        "external_id": str(release["id"]),
        "url": release.get("html_url"),
        "raw": slim({k: v for k, v in release.items() if k not in ("assets", "body")}),
        "scope": repo,
        "version": release["tag_name"],
        "name": release.get("name"),
        # target_commitish is a branch name unless the release was cut from a commit.
        "sha": commitish if _SHA.match(commitish) else None,
        "created_at": parse_time(release["created_at"]),
        # Drafts have no published_at: not released yet.
        "released_at": parse_time(release.get("published_at")),
    }
