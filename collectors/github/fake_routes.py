"""The fake GitHub's endpoints: each takes the fake's state and the request, returns an `Answer`.

Auth, the rate limit, ETags and error bodies are applied around them by `fake.endpoint`.
"""

from __future__ import annotations

from starlette.requests import Request

from collectors.github.fake import (
    Answer,
    GitHubFake,
    invalid,
    not_found,
    paginate,
    repo_of,
)
from collectors.sandbox.world import Deployment, PullRequest, Repo, WorkflowRun

PULL_STATES = ("open", "closed", "all")
PULL_SORTS = ("created", "updated", "popularity", "long-running")
MAX_PULL_COMMITS = 250  # GitHub lists at most 250 commits of a pull request


def rate_limit(fake: GitHubFake, request: Request) -> Answer:
    core = {
        "limit": fake.rate_limit,
        "remaining": max(0, fake.rate_limit - fake.used),
        "reset": int(fake.reset_at),
        "used": fake.used,
        "resource": "core",
    }
    search = {"limit": 30, "remaining": 30, "reset": int(fake.reset_at), "used": 0}
    return Answer(
        {"resources": {"core": core, "search": {**search, "resource": "search"}}, "rate": core}
    )


def repository(fake: GitHubFake, request: Request) -> Answer:
    repo = repo_of(fake, request)
    return Answer(fake.render.repository(repo))


# ---------------------------------------------------------------- pulls


def _pull_of(fake: GitHubFake, request: Request) -> tuple[Repo, PullRequest]:
    repo = repo_of(fake, request)
    index = fake.cached(repo, "pulls_by_number", lambda: {p.number: p for p in repo.pulls})
    pr = index.get(request.path_params["number"])
    if pr is None:
        raise not_found()
    return repo, pr


def pulls(fake: GitHubFake, request: Request) -> Answer:
    repo = repo_of(fake, request)
    query = request.query_params
    state = query.get("state", "open")
    sort = query.get("sort", "created")
    # GitHub: desc by default when sorting by creation, asc for every other sort.
    direction = query.get("direction", "desc" if sort == "created" else "asc")
    if state not in PULL_STATES:
        raise invalid("state", state)
    if sort not in PULL_SORTS:
        raise invalid("sort", sort)
    if direction not in ("asc", "desc"):
        raise invalid("direction", direction)
    field = "updated" if sort in ("updated", "long-running") else "created"

    def newest_first() -> list[PullRequest]:
        if field == "updated":
            return sorted(repo.pulls, key=lambda p: (p.updated_at, p.number), reverse=True)
        return sorted(repo.pulls, key=lambda p: (p.created_at, p.number), reverse=True)

    ordered = fake.cached(repo, f"pulls:{field}", newest_first)
    if direction == "asc":
        ordered = ordered[::-1]
    base, head = query.get("base"), query.get("head")
    owner = repo.full_name.split("/", 1)[0]
    selected = [
        p
        for p in ordered
        if state in ("all", p.state)
        and (base is None or p.base == base)
        and (head is None or f"{owner}:{p.head}" == head)
    ]
    renderer = fake.render
    return paginate(request, selected, lambda p: renderer.pull_simple(repo, p))


def pull(fake: GitHubFake, request: Request) -> Answer:
    repo, pr = _pull_of(fake, request)
    return Answer(fake.render.pull(repo, pr))


def reviews(fake: GitHubFake, request: Request) -> Answer:
    repo, pr = _pull_of(fake, request)
    renderer = fake.render
    ordered = sorted(pr.reviews, key=lambda r: (r.submitted_at, r.id))  # oldest first
    return paginate(request, ordered, lambda r: renderer.review(repo, pr, r))


def commits(fake: GitHubFake, request: Request) -> Answer:
    repo, pr = _pull_of(fake, request)
    renderer = fake.render
    parents = {c.sha: prev.sha for prev, c in zip(pr.commits, pr.commits[1:], strict=False)}
    ordered = sorted(pr.commits, key=lambda c: c.committed_at)  # oldest first
    return paginate(
        request,
        ordered,
        lambda c: renderer.commit(repo, c, parents.get(c.sha)),
        limit=MAX_PULL_COMMITS,
    )


# ---------------------------------------------------------------- deployments


def deployments(fake: GitHubFake, request: Request) -> Answer:
    repo = repo_of(fake, request)
    query = request.query_params
    ordered = fake.cached(
        repo,
        "deployments",
        lambda: sorted(repo.deployments, key=lambda d: (d.created_at, d.id), reverse=True),
    )
    filters = {k: query[k] for k in ("environment", "sha", "ref", "task") if k in query}

    def keep(d: Deployment) -> bool:
        values = {"environment": d.environment, "sha": d.sha, "ref": d.ref, "task": "deploy"}
        return all(values[k] == v for k, v in filters.items())

    selected = [d for d in ordered if keep(d)] if filters else ordered
    renderer = fake.render
    return paginate(request, selected, lambda d: renderer.deployment(repo, d))


def statuses(fake: GitHubFake, request: Request) -> Answer:
    repo = repo_of(fake, request)
    index = fake.cached(repo, "deployments_by_id", lambda: {d.id: d for d in repo.deployments})
    deployment = index.get(request.path_params["deployment_id"])
    if deployment is None:
        raise not_found()
    renderer = fake.render
    ordered = sorted(deployment.statuses, key=lambda s: (s.created_at, s.id), reverse=True)
    return paginate(request, ordered, lambda s: renderer.deployment_status(repo, deployment, s))


# ---------------------------------------------------------------- workflow runs and releases


def workflow_runs(fake: GitHubFake, request: Request) -> Answer:
    repo = repo_of(fake, request)
    query = request.query_params
    ordered = fake.cached(
        repo,
        "workflow_runs",
        lambda: sorted(repo.workflow_runs, key=lambda r: (r.created_at, r.id), reverse=True),
    )
    status = query.get("status")

    def keep(run: WorkflowRun) -> bool:
        if status is not None and status not in (run.status, run.conclusion):
            return False
        return (
            query.get("branch", run.head_branch) == run.head_branch
            and query.get("event", run.event) == run.event
            and query.get("head_sha", run.head_sha) == run.head_sha
            and query.get("actor", run.actor) == run.actor
        )

    selected = [r for r in ordered if keep(r)]
    renderer = fake.render
    page = paginate(request, selected, lambda r: renderer.workflow_run(repo, r))
    return Answer({"total_count": len(selected), "workflow_runs": page.body}, page.headers)


def releases(fake: GitHubFake, request: Request) -> Answer:
    repo = repo_of(fake, request)
    ordered = fake.cached(
        repo,
        "releases",
        lambda: sorted(repo.releases, key=lambda r: (r.created_at, r.id), reverse=True),
    )
    renderer = fake.render
    return paginate(request, ordered, lambda r: renderer.release(repo, r))
