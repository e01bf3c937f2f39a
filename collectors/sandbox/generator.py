"""A deterministic generator of the sandbox organisation "Acme".

`generate(size, seed, now)` always returns the same `World` for the same arguments. It follows the
products file (`collectors/sandbox/products.yaml`; the large size adds generated services) and
plants facts later tests find again:

- board 2 (PAY) has a review bottleneck: work waits in "Code Review" about six times longer;
- production deployments of some products cause incidents at a known rate (`Facts.incident_rate`);
- hotfix (``hotfix/...``, label ``hotfix``) and revert (``revert-N-...``) pull requests, each
  deployed straight after merging;
- one repo deploys through workflow runs and one through releases (the DORA fallbacks);
- superseded successful deployments get an ``inactive`` status, as GitHub does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from dataclasses import dataclass
from itertools import count

from collectors.sandbox import PRODUCTS_FILE
from collectors.sandbox.world import (
    Board,
    Change,
    Commit,
    Deployment,
    DeploymentStatus,
    Facts,
    JiraIssue,
    Person,
    PullRequest,
    Release,
    Repo,
    Review,
    SentryIssue,
    SentryProject,
    SentryRelease,
    Sprint,
    WorkflowRun,
    World,
)
from storage.product_file import ProductSpec, load_products_file

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
ORG = "acme"
WORKFLOW = ("To Do", "In Progress", "Code Review", "QA", "Done")
STATUS_IDS = {
    "To Do": "10000",
    "In Progress": "3",
    "Code Review": "10001",
    "QA": "10002",
    "Done": "10003",
}
INCIDENT_RATE = {"Payment System": 0.15, "Checkout": 0.08}
DEFAULT_INCIDENT_RATE = 0.04
BOTTLENECK_BOARD = 2


@dataclass(frozen=True)
class Size:
    days: int
    people: int
    extra_products: int
    pulls_per_repo_day: float
    issues_per_project_day: float
    sentry_issues_per_project: int


SIZES = {
    "small": Size(
        days=90,
        people=40,
        extra_products=0,
        pulls_per_repo_day=0.9,
        issues_per_project_day=1.3,
        sentry_issues_per_project=30,
    ),
    "large": Size(
        days=365,
        people=500,
        extra_products=42,
        pulls_per_repo_day=3.9,
        issues_per_project_day=8.0,
        sentry_issues_per_project=600,
    ),
}

_FIRST = (
    "ada",
    "alan",
    "grace",
    "linus",
    "margaret",
    "ken",
    "barbara",
    "dennis",
    "radia",
    "tim",
    "frances",
    "edsger",
    "katherine",
    "john",
    "hedy",
    "guido",
    "sophie",
    "bjarne",
)
_LAST = (
    "lovelace",
    "turing",
    "hopper",
    "torvalds",
    "hamilton",
    "thompson",
    "liskov",
    "ritchie",
    "perlman",
    "berners",
    "allen",
    "dijkstra",
    "johnson",
    "backus",
    "lamarr",
)
_VERBS = ("Add", "Fix", "Refactor", "Speed up", "Remove", "Handle", "Validate", "Log", "Cache")
_NOUNS = (
    "retry logic",
    "cart totals",
    "currency rounding",
    "webhook handler",
    "search index",
    "login flow",
    "order export",
    "price rules",
    "image upload",
    "session timeout",
    "feature flag",
    "payment capture",
    "refund path",
    "inventory sync",
    "rate limiter",
)
_ERRORS = (
    "TypeError: Cannot read properties of undefined (reading 'id')",
    "KeyError: 'currency'",
    "ConnectionResetError: [Errno 104] Connection reset by peer",
    "TimeoutError: upstream took longer than 30s",
    "ValueError: invalid literal for int()",
    "NullPointerException in CartService.total",
    "IntegrityError: duplicate key value",
    "ZeroDivisionError: division by zero",
    "RangeError: Maximum call stack size exceeded",
)


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def _lognormal(rng: random.Random, median_hours: float, sigma: float = 0.6) -> dt.timedelta:
    return _whole(dt.timedelta(hours=median_hours * math.exp(rng.gauss(0, sigma))))


def _whole(delta: dt.timedelta) -> dt.timedelta:
    """Whole seconds: what every API renders, so ground truth and synced rows compare exactly."""
    return dt.timedelta(seconds=round(delta.total_seconds()))


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method; means here are small.
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def default_now() -> dt.datetime:
    """Midnight UTC today: the sandbox ends "now", so recent windows have data in the demo."""
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)


def generate(size: str = "small", seed: int = 7, now: dt.datetime | None = None) -> World:
    if size not in SIZES:
        raise ValueError(f"unknown sandbox size {size!r}; use one of {', '.join(SIZES)}")
    spec = SIZES[size]
    now = now or default_now()
    start = now - spec.days * DAY
    rng = random.Random(f"{seed}:{size}")
    products = _products(spec)
    people = _people(rng, spec, products)
    builder = _Builder(rng, spec, now, start, products, people)
    return builder.build(seed, size)


def _products(spec: Size) -> list[ProductSpec]:
    products = load_products_file(PRODUCTS_FILE)
    parents = [p.name for p in products if p.parent is None]
    for n in range(1, spec.extra_products + 1):
        products.append(
            ProductSpec(
                name=f"Service {n:02d}",
                parent=parents[n % len(parents)],
                owner_team=f"team-{n:02d}",
                priority=("high", "medium", "low")[n % 3],
                sentry_projects=(f"service-{n:02d}",),
                jira_projects=(f"SV{n:02d}",),
                jira_boards=(100 + n,),
                github_repos=(f"{ORG}/service-{n:02d}",),
            )
        )
    return products


def _people(rng: random.Random, spec: Size, products: list[ProductSpec]) -> list[Person]:
    teams = sorted({p.owner_team or "platform" for p in products})
    people = []
    for i in range(spec.people):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
        login = f"{first}-{last}" + (f"-{i}" if i >= len(_FIRST) * len(_LAST) else "")
        people.append(
            Person(
                login=login,
                name=f"{first.title()} {last.title()}",
                account_id=f"5b10a2844c20165700ed{i:04d}",
                email=f"{login}@acme.example",
                team=teams[i % len(teams)],
            )
        )
    rng.shuffle(people)
    return people


class _Builder:
    def __init__(
        self,
        rng: random.Random,
        spec: Size,
        now: dt.datetime,
        start: dt.datetime,
        products: list[ProductSpec],
        people: list[Person],
    ) -> None:
        self.rng, self.spec, self.now, self.start = rng, spec, now, start
        self.products, self.people = products, people
        self.ids = count(1001)
        self.by_team: dict[str, list[Person]] = {}
        for person in people:
            self.by_team.setdefault(person.team, []).append(person)
        self.issues: list[JiraIssue] = []
        self.issue_numbers: dict[str, count[int]] = {}

    def team_of(self, product: ProductSpec) -> list[Person]:
        return self.by_team.get(product.owner_team or "", self.people)

    def build(self, seed: int, size: str) -> World:
        repos: dict[str, Repo] = {}
        for product in self.products:
            for name in product.github_repos:
                repos[name] = self.repo(product, name)
        boards, sprints = self.boards_and_sprints()
        for product in self.products:
            for project in product.jira_projects:
                self.work_items(product, project, boards, sprints)
        self.incidents(repos)
        self.issues.sort(key=lambda i: (i.project, i.id))
        sentry_projects, sentry_issues, releases = self.sentry()
        facts = Facts(
            bottleneck_board=BOTTLENECK_BOARD,
            bottleneck_status="Code Review",
            incident_rate={
                p.name: INCIDENT_RATE.get(p.name, DEFAULT_INCIDENT_RATE) for p in self.products
            },
        )
        return World(
            seed=seed,
            size=size,
            now=self.now,
            start=self.start,
            org=ORG,
            products=self.products,
            people=self.people,
            repos=repos,
            boards=boards,
            sprints=sprints,
            issues=self.issues,
            sentry_projects=sentry_projects,
            sentry_issues=sentry_issues,
            sentry_releases=releases,
            facts=facts,
        )

    # ------------------------------------------------------------ GitHub

    def repo(self, product: ProductSpec, name: str) -> Repo:
        via = {"acme/admin-console": "workflow_runs", "acme/fraud-scoring": "releases"}
        repo = Repo(
            id=next(self.ids),
            full_name=name,
            product=product.name,
            default_branch="main",
            deploys_via=via.get(name, "deployments"),
        )
        slow_review = product.name == "Payment System"
        day = self.start
        number = count(1)
        while day < self.now:
            if day.weekday() < 5:
                for _ in range(_poisson(self.rng, self.spec.pulls_per_repo_day)):
                    repo.pulls.append(self.pull(repo, product, next(number), day, slow_review))
            day += DAY
        self.deploy(repo)
        return repo

    def pull(
        self, repo: Repo, product: ProductSpec, number: int, day: dt.datetime, slow_review: bool
    ) -> PullRequest:
        rng = self.rng
        team = self.team_of(product)
        author = rng.choice(team).login
        created = day + _whole(dt.timedelta(hours=rng.uniform(8, 18)))
        roll = rng.random()
        topic = f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)}"
        labels = [rng.choice(("backend", "frontend", "infra"))]
        if roll < 0.05:
            head, title = f"hotfix/{topic.lower().replace(' ', '-')}", f"Hotfix: {topic}"
            labels.append("hotfix")
        elif roll < 0.07 and number > 1:
            head, title = (
                f"revert-{number - 1}-{topic.lower().replace(' ', '-')}",
                f'Revert "{topic}"',
            )
        else:
            head, title = f"feature/{topic.lower().replace(' ', '-')}-{number}", topic
        first_commit = created - _lognormal(rng, 20, 0.8)
        commits = []
        for i in range(rng.randint(1, 5)):
            at = first_commit + _whole((created - first_commit) * (i / 5))
            commits.append(
                Commit(_sha(repo.full_name, number, i), author, f"{topic} ({i + 1})", at)
            )
        reviewers = [p.login for p in rng.sample(team, min(len(team), 3)) if p.login != author][:2]
        reviews = []
        at = created + _lognormal(rng, 14 if slow_review else 3)
        for i, reviewer in enumerate(reviewers or [rng.choice(self.people).login]):
            state = "APPROVED" if i == len(reviewers) - 1 or rng.random() < 0.6 else "COMMENTED"
            if at < self.now:
                reviews.append(Review(next(self.ids), reviewer, state, at))
            at += _lognormal(rng, 2)
        fate = rng.random()
        merged_at = closed_at = None
        ready = (reviews[-1].submitted_at if reviews else created) + _lognormal(rng, 4)
        if fate < 0.9 and ready < self.now:
            merged_at = closed_at = ready
        elif fate < 0.97 and ready < self.now:
            closed_at = ready
        updated = max(
            [created, *(r.submitted_at for r in reviews), *(t for t in (closed_at,) if t)]
        )
        return PullRequest(
            id=next(self.ids),
            repo=repo.full_name,
            number=number,
            title=title,
            author=author,
            head=head,
            base="main",
            labels=labels,
            created_at=created,
            updated_at=updated,
            closed_at=closed_at,
            merged_at=merged_at,
            merge_commit_sha=_sha(repo.full_name, number, "merge") if merged_at else None,
            additions=int(rng.paretovariate(1.2) * 20),
            deletions=int(rng.paretovariate(1.5) * 8),
            changed_files=rng.randint(1, 30),
            commits=commits,
            reviews=reviews,
        )

    def deploy(self, repo: Repo) -> None:  # noqa: PLR0912 - one timeline, three deploy styles
        """Ship merged PRs: daily production deploys on weekdays, hotfixes straight away."""
        rng = self.rng
        merged = sorted(
            (p for p in repo.pulls if p.merged_at), key=lambda p: p.merged_at or self.now
        )
        pending: list[PullRequest] = []
        times: list[tuple[dt.datetime, bool]] = []
        day = self.start
        while day < self.now:
            if day.weekday() < 5 and rng.random() < 0.7:
                times.append((day + dt.timedelta(hours=14, minutes=rng.randint(0, 90)), False))
            day += DAY
        for pr in merged:
            if pr.head.startswith(("hotfix/", "revert-")):
                times.append(((pr.merged_at or self.now) + dt.timedelta(minutes=20), True))
        times.sort()
        queue = iter(merged)
        upcoming = next(queue, None)
        last_success: Deployment | None = None
        run_number = count(1)
        for at, _urgent in times:
            if at >= self.now:
                break
            while upcoming is not None and (upcoming.merged_at or self.now) <= at:
                pending.append(upcoming)
                upcoming = next(queue, None)
            if not pending:
                continue
            failed = rng.random() < 0.06
            sha = pending[-1].merge_commit_sha or _sha(repo.full_name, at)
            creator = pending[-1].author
            if repo.deploys_via == "deployments":
                staging = self.deployment(repo, sha, "staging", at - HOUR, creator, failed=False)
                repo.deployments.append(staging)
                production = self.deployment(repo, sha, "production", at, creator, failed)
                repo.deployments.append(production)
                if not failed:
                    production.shipped = [p.number for p in pending]
                    if last_success is not None:
                        done = last_success.statuses[-1].created_at
                        last_success.statuses.append(
                            DeploymentStatus(
                                next(self.ids),
                                "inactive",
                                max(done, at + 5 * dt.timedelta(minutes=1)),
                            )
                        )
                    last_success = production
            elif repo.deploys_via == "workflow_runs":
                conclusion = "failure" if failed else "success"
                repo.workflow_runs.append(
                    WorkflowRun(
                        next(self.ids),
                        repo.full_name,
                        "Deploy to production",
                        next(run_number),
                        "main",
                        sha,
                        "push",
                        "completed",
                        conclusion,
                        creator,
                        at,
                        at + dt.timedelta(minutes=rng.randint(4, 15)),
                    )
                )
                repo.workflow_runs.append(
                    WorkflowRun(
                        next(self.ids),
                        repo.full_name,
                        "CI",
                        next(run_number),
                        "main",
                        sha,
                        "push",
                        "completed",
                        "success",
                        creator,
                        at - HOUR,
                        at - HOUR + dt.timedelta(minutes=6),
                    )
                )
            else:
                if failed:
                    continue
                n = len(repo.releases) + 1
                repo.releases.append(
                    Release(
                        next(self.ids),
                        repo.full_name,
                        f"v1.{n}.0",
                        f"Release 1.{n}",
                        sha,
                        creator,
                        at,
                        at + dt.timedelta(minutes=3),
                    )
                )
            if not failed:
                pending = []

    def deployment(
        self, repo: Repo, sha: str, environment: str, at: dt.datetime, creator: str, failed: bool
    ) -> Deployment:
        minutes = dt.timedelta(minutes=self.rng.randint(3, 12))
        statuses = [
            DeploymentStatus(next(self.ids), "queued", at),
            DeploymentStatus(next(self.ids), "in_progress", at + dt.timedelta(minutes=1)),
            DeploymentStatus(next(self.ids), "failure" if failed else "success", at + minutes),
        ]
        return Deployment(
            next(self.ids), repo.full_name, sha, "main", environment, creator, at, statuses
        )

    # ------------------------------------------------------------ Jira

    def boards_and_sprints(self) -> tuple[dict[int, Board], dict[int, Sprint]]:
        boards: dict[int, Board] = {}
        sprints: dict[int, Sprint] = {}
        for product in self.products:
            for board_id, project in zip(product.jira_boards, product.jira_projects, strict=False):
                boards[board_id] = Board(board_id, f"{project} board", "scrum", project)
                monday = self.start - self.start.weekday() * DAY
                n = 1
                while True:
                    begin = monday + (n - 1) * 14 * DAY + 9 * HOUR
                    end = begin + 14 * DAY - 2 * HOUR
                    state = (
                        "closed" if end <= self.now else "active" if begin <= self.now else "future"
                    )
                    sprint_id = board_id * 1000 + n
                    sprints[sprint_id] = Sprint(
                        sprint_id,
                        board_id,
                        f"{project} Sprint {n}",
                        state,
                        begin if state != "future" else None,
                        end if state != "future" else None,
                        end if state == "closed" else None,
                        f"Ship the {project} goals of sprint {n}",
                    )
                    if state == "future":
                        break
                    n += 1
        return boards, sprints

    def work_items(
        self,
        product: ProductSpec,
        project: str,
        boards: dict[int, Board],
        sprints: dict[int, Sprint],
    ) -> None:
        rng = self.rng
        board = next((b for b in boards.values() if b.project == project), None)
        board_sprints = sorted(
            (s for s in sprints.values() if board and s.board_id == board.id and s.start),
            key=lambda s: s.id,
        )
        slow = board is not None and board.id == BOTTLENECK_BOARD
        team = self.team_of(product)
        day = self.start - 10 * DAY
        while day < self.now:
            if day.weekday() < 5:
                for _ in range(_poisson(rng, self.spec.issues_per_project_day)):
                    kind = rng.choices(("Story", "Bug", "Task"), (55, 25, 20))[0]
                    created = day + _whole(dt.timedelta(hours=rng.uniform(8, 18)))
                    issue = self.new_issue(
                        project, kind, f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)}", created, team
                    )
                    durations = {
                        "In Progress": _lognormal(rng, 30),
                        "Code Review": _lognormal(rng, 72 if slow else 12),
                        "QA": _lognormal(rng, 10),
                    }
                    begin = created + _lognormal(rng, 60, 0.9)
                    self.walk(issue, begin, durations)
                    self.plan(issue, begin, board_sprints, rng)
            day += DAY

    def new_issue(
        self, project: str, kind: str, summary: str, created: dt.datetime, team: list[Person]
    ) -> JiraIssue:
        rng = self.rng
        number = next(self.issue_numbers.setdefault(project, count(1)))
        points = rng.choice((1.0, 2.0, 3.0, 5.0, 8.0)) if kind in ("Story", "Task") else None
        issue = JiraIssue(
            id=10000 + next(self.ids),
            key=f"{project}-{number}",
            project=project,
            type=kind,
            summary=summary,
            priority=rng.choices(
                ("Highest", "High", "Medium", "Low", "Lowest"), (5, 20, 50, 20, 5)
            )[0],
            status="To Do",
            created=created,
            updated=created,
            resolved=None,
            assignee=rng.choice(team).account_id,
            reporter=rng.choice(team).account_id,
            story_points=points,
            labels=[],
            sprint_ids=[],
            changes=[],
        )
        self.issues.append(issue)
        return issue

    def walk(
        self, issue: JiraIssue, begin: dt.datetime, durations: dict[str, dt.timedelta]
    ) -> None:
        """Move the issue through the workflow, stopping at "now".

        Review sends work back to "In Progress" now and then (changes requested), at most twice.
        """
        at, status = begin, "To Do"
        path = list(WORKFLOW[1:])
        rework = 0
        while path and at < self.now:
            target = path.pop(0)
            self.change(issue, at, "status", STATUS_IDS[status], status, STATUS_IDS[target], target)
            status = target
            if target == "Done":
                issue.resolved = at
                break
            at += durations[target]
            if target == "Code Review" and rework < 2 and self.rng.random() < 0.35:
                rework += 1
                path = ["In Progress", "Code Review", *path]
        issue.status = status

    def change(
        self,
        issue: JiraIssue,
        at: dt.datetime,
        field: str,
        from_value: str | None,
        from_string: str | None,
        to_value: str | None,
        to_string: str | None,
    ) -> None:
        issue.changes.append(
            Change(
                next(self.ids),
                at,
                issue.assignee or issue.reporter,
                field,
                from_value,
                from_string,
                to_value,
                to_string,
            )
        )
        issue.changes.sort(key=lambda c: (c.at, c.history_id))
        issue.updated = max(issue.updated, at)

    def plan(
        self, issue: JiraIssue, begin: dt.datetime, board_sprints: list[Sprint], rng: random.Random
    ) -> None:
        """Put the issue in the sprint its work starts in, carrying it over until it is done."""
        current = [s for s in board_sprints if s.start and s.end and s.start <= begin < s.end]
        if not current:
            return
        index = board_sprints.index(current[0])
        sprint = board_sprints[index]
        assert sprint.start is not None
        # Committed at planning if it existed by then, else scope added after the start.
        added = sprint.start if issue.created < sprint.start else issue.created + HOUR
        if added >= self.now:
            return
        if issue.created < sprint.start and rng.random() < 0.05 and index + 1 < len(board_sprints):
            # Planned, then pulled out mid-sprint and picked up in the next one.
            self.set_sprints(issue, added, [sprint.id])
            self.set_sprints(issue, min(sprint.start + 4 * DAY, self.now - HOUR), [])
            nxt = board_sprints[index + 1]
            if nxt.start and nxt.start < self.now:
                self.set_sprints(issue, nxt.start, [nxt.id])
            return
        self.set_sprints(issue, added, [sprint.id])
        for later in board_sprints[index + 1 :]:
            previous = board_sprints[board_sprints.index(later) - 1]
            if previous.end is None or (issue.resolved and issue.resolved < previous.end):
                break
            if later.start is None or later.start >= self.now:
                break
            self.set_sprints(issue, later.start, [*issue.sprint_ids, later.id])

    def set_sprints(self, issue: JiraIssue, at: dt.datetime, sprint_ids: list[int]) -> None:
        def text(ids: list[int]) -> str | None:
            return ", ".join(str(i) for i in ids) or None

        names = {i: f"{issue.project} Sprint {i % 1000}" for i in [*issue.sprint_ids, *sprint_ids]}
        self.change(
            issue,
            at,
            "Sprint",
            text(issue.sprint_ids),
            ", ".join(names[i] for i in issue.sprint_ids) or None,
            text(sprint_ids),
            ", ".join(names[i] for i in sprint_ids) or None,
        )
        issue.sprint_ids = list(sprint_ids)

    def incidents(self, repos: dict[str, Repo]) -> None:
        """Incidents in the product's Jira project, caused by some production deployments."""
        rng = self.rng
        products = {p.name: p for p in self.products}
        for repo in repos.values():
            product = products[repo.product]
            if not product.jira_projects:
                continue
            rate = INCIDENT_RATE.get(product.name, DEFAULT_INCIDENT_RATE)
            for deployment in repo.deployments:
                final = next(s for s in reversed(deployment.statuses) if s.state != "inactive")
                if deployment.environment != "production" or final.state != "success":
                    continue
                if rng.random() >= rate:
                    continue
                created = final.created_at + _lognormal(rng, 6, 0.8)
                if created >= self.now:
                    continue
                issue = self.new_issue(
                    product.jira_projects[0],
                    "Incident",
                    f"Incident: {rng.choice(_NOUNS)} failing after deploy",
                    created,
                    self.team_of(product),
                )
                issue.priority, issue.story_points = "Highest", None
                issue.caused_by = deployment.id
                recovery = _lognormal(rng, 5 if product.name == "Payment System" else 2.5)
                self.walk(
                    issue,
                    created + 10 * dt.timedelta(minutes=1),
                    {"In Progress": recovery, "Code Review": HOUR / 4, "QA": HOUR / 4},
                )

    # ------------------------------------------------------------ Sentry

    def sentry(
        self,
    ) -> tuple[dict[str, SentryProject], dict[str, list[SentryIssue]], list[SentryRelease]]:
        rng = self.rng
        projects: dict[str, SentryProject] = {}
        issues: dict[str, list[SentryIssue]] = {}
        releases: list[SentryRelease] = []
        for product in self.products:
            for slug in product.sentry_projects:
                projects[slug] = SentryProject(
                    next(self.ids),
                    slug,
                    slug.replace("-", " ").title(),
                    rng.choice(("python", "javascript", "java")),
                    self.start - 400 * DAY,
                )
                issues[slug] = [
                    self.sentry_issue(slug, n)
                    for n in range(1, self.spec.sentry_issues_per_project + 1)
                ]
                week = self.start
                n = 1
                while week < self.now:
                    releases.append(SentryRelease(f"{slug}@1.{n}.0", [slug], week, week + HOUR))
                    week += 7 * DAY
                    n += 1
        return projects, issues, releases

    def sentry_issue(self, slug: str, n: int) -> SentryIssue:
        rng = self.rng
        first = self.start - _whole(rng.uniform(-0.9, 0.5) * self.spec.days * DAY)
        last = min(
            self.now - dt.timedelta(minutes=rng.randint(1, 600)),
            first + _lognormal(rng, 24 * 10, 1.2),
        )
        last = max(last, first)
        level = rng.choices(("fatal", "error", "warning", "info", "debug"), (5, 60, 20, 10, 5))[0]
        status = rng.choices(("unresolved", "resolved", "ignored"), (60, 30, 10))[0]
        if status == "resolved":
            substatus = None
        elif status == "ignored":
            substatus = "archived_until_escalating"
        elif first > self.now - 7 * DAY:
            substatus = "new"
        else:
            substatus = rng.choices(("ongoing", "regressed", "escalating"), (80, 12, 8))[0]
        daily: dict[dt.date, int] = {}
        day = first.date()
        scale = rng.paretovariate(1.1) * 3
        while day <= last.date():
            if rng.random() < 0.6 or day in (first.date(), last.date()):
                daily[day] = max(1, int(scale * math.exp(rng.gauss(0, 1))))
            day += dt.timedelta(days=1)
        events = sum(daily.values())
        return SentryIssue(
            id=4_000_000 + next(self.ids),
            project=slug,
            short_id=f"{slug.upper().replace('-', '')[:12]}-{n:X}",
            title=rng.choice(_ERRORS),
            culprit=f"app/{rng.choice(_NOUNS).replace(' ', '_')}.py",
            level=level,
            status=status,
            substatus=substatus,
            first_seen=first,
            last_seen=last,
            user_count=max(1, min(events, int(events * rng.uniform(0.1, 0.9)))),
            daily=daily,
        )
