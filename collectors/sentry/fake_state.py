"""The Sentry fake's mutable view of the sandbox World, and the issue search it answers.

`SentryState` never mutates the `World` it was built from: the lists are copied and an issue is
replaced by a modified copy when it changes (copy-on-write), so several fakes can share one World
and the large sandbox is not duplicated in memory. Tests change the world between syncs through
`touch`, `set_status` and `add_release`.

`search` understands the part of Sentry's structured search the collectors use:
``is:unresolved|resolved|ignored|archived|assigned|unassigned``, ``lastSeen:`` / ``firstSeen:``
with ``>``, ``>=``, ``<``, ``<=`` and an ISO date-time or a relative ``-24h``, ``level:`` and
free text (a case-insensitive substring of the title). Anything else is a `SearchError`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable

from collectors.sandbox.world import SentryIssue, SentryProject, SentryRelease, World

_STATUSES = ("unresolved", "resolved", "ignored")
_DATE_FILTER = re.compile(r"^(?P<op>>=|<=|>|<|)(?P<value>.+)$")
_RELATIVE = re.compile(r"^-(?P<n>\d+)(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

# Sort orders: each maps an issue to a number, issues come out highest first (ties: id, desc).
SORTS: dict[str, Callable[[SentryIssue], int]] = {
    "date": lambda i: int(i.last_seen.timestamp() * 1000),
    "new": lambda i: int(i.first_seen.timestamp() * 1000),
    "freq": lambda i: i.count,
    "user": lambda i: i.user_count,
}
SORTS["trends"] = SORTS["freq"]  # the sandbox has no trend model: closest is event volume
SORTS["inbox"] = SORTS["new"]  # "date added to the inbox" is when the issue was first seen


class SearchError(ValueError):
    """A query the fake cannot answer (Sentry answers 400 with a detail)."""


class SentryState:
    """Sentry data of one fake app instance: projects, issues per project, releases."""

    def __init__(self, world: World) -> None:
        self.org = world.org
        self.now = world.now
        self.projects: dict[str, SentryProject] = dict(world.sentry_projects)
        self.issues: dict[str, list[SentryIssue]] = {
            slug: list(issues) for slug, issues in world.sentry_issues.items()
        }
        self.releases: list[tuple[int, SentryRelease]] = [
            (n, release) for n, release in enumerate(world.sentry_releases, start=1)
        ]
        self._people = {p.login: (str(n), p) for n, p in enumerate(world.people, start=1)}
        self._where: dict[int, tuple[str, int]] = {
            issue.id: (slug, index)
            for slug, issues in self.issues.items()
            for index, issue in enumerate(issues)
        }

    # ------------------------------------------------------------ reading

    def project(self, id_or_slug: str) -> SentryProject | None:
        if id_or_slug in self.projects:
            return self.projects[id_or_slug]
        return next((p for p in self.projects.values() if str(p.id) == id_or_slug), None)

    def issue(self, issue_id: str) -> SentryIssue | None:
        where = self._where.get(int(issue_id)) if issue_id.isdigit() else None
        if where is None:
            return None
        slug, index = where
        return self.issues[slug][index]

    def person(self, login: str) -> tuple[str, str, str] | None:
        """(id, name, email) of a sandbox person, as Sentry's ``assignedTo`` shows a user."""
        found = self._people.get(login)
        if found is None:
            return None
        user_id, person = found
        return user_id, person.name, person.email

    def search(self, slug: str, query: str, sort: str) -> list[SentryIssue]:
        """The project's issues matching ``query``, in ``sort`` order (highest first)."""
        if sort not in SORTS:
            raise SearchError(f"Invalid sort: {sort!r}")
        predicates = [self._predicate(token) for token in query.split()]
        found = [i for i in self.issues.get(slug, []) if all(p(i) for p in predicates)]
        key = SORTS[sort]
        found.sort(key=lambda i: (key(i), i.id), reverse=True)
        return found

    def _predicate(self, token: str) -> Callable[[SentryIssue], bool]:
        name, colon, value = token.partition(":")
        if not colon:
            needle = token.lower()
            return lambda i: needle in i.title.lower()
        if name == "is":
            return _is_filter(value)
        if name in ("lastSeen", "firstSeen"):
            return self._date_filter(name, value)
        if name == "level":
            return lambda i: i.level == value
        raise SearchError(f"Invalid search query: unsupported key {name!r}")

    def _date_filter(self, name: str, text: str) -> Callable[[SentryIssue], bool]:
        match = _DATE_FILTER.match(text)
        assert match is not None  # the pattern accepts any non-empty text
        op, value = match["op"], match["value"]
        relative = _RELATIVE.match(value)
        if relative:
            # "lastSeen:-24h" means "within the last 24 hours".
            bound = self.now - dt.timedelta(**{_UNITS[relative["unit"]]: int(relative["n"])})
            op = op or ">="
        else:
            bound = _parse_when(value)
            op = op or "="
        attr = "last_seen" if name == "lastSeen" else "first_seen"
        compare: dict[str, Callable[[dt.datetime], bool]] = {
            ">": lambda t: t > bound,
            ">=": lambda t: t >= bound,
            "<": lambda t: t < bound,
            "<=": lambda t: t <= bound,
            "=": lambda t: t == bound,
        }
        check = compare[op]
        return lambda i: check(getattr(i, attr))

    def releases_for(self, projects: list[str], query: str) -> list[tuple[int, SentryRelease]]:
        """Releases of the given projects (ids or slugs; none or ``-1``: all), newest first."""
        wanted: set[str] | None = None
        if projects and "-1" not in projects:
            wanted = set()
            for ref in projects:
                project = self.project(ref)
                if project is None:
                    raise SearchError(f"Invalid project: {ref!r}")
                wanted.add(project.slug)
        needle = query.lower()
        found = [
            (n, r)
            for n, r in self.releases
            if (wanted is None or wanted & set(r.projects)) and needle in r.version.lower()
        ]
        found.sort(key=lambda pair: (pair[1].date_created, pair[0]), reverse=True)
        return found

    # ------------------------------------------------------------ changing (copy-on-write)

    def _replace(self, issue: SentryIssue, **changes: object) -> SentryIssue:
        slug, index = self._where[issue.id]
        changed = dataclasses.replace(issue, **changes)  # type: ignore[arg-type]
        self.issues[slug][index] = changed
        return changed

    def touch(self, issue_id: int, at: dt.datetime, events: int = 1) -> SentryIssue:
        """New events on an issue: last seen moves, counts grow, a resolved issue regresses."""
        issue = self.issue(str(issue_id))
        if issue is None:
            raise KeyError(issue_id)
        daily = dict(issue.daily)
        daily[at.date()] = daily.get(at.date(), 0) + events
        changes: dict[str, object] = {
            "last_seen": max(issue.last_seen, at),
            "daily": daily,
            "user_count": issue.user_count + 1,
        }
        if issue.status == "resolved":
            changes |= {"status": "unresolved", "substatus": "regressed"}
        return self._replace(issue, **changes)

    def set_status(self, issue_id: str, status: str) -> SentryIssue:
        """What a resolve/ignore/unresolve does: status and substatus change, lastSeen does not."""
        issue = self.issue(issue_id)
        if issue is None:
            raise KeyError(issue_id)
        if status not in _STATUSES:
            raise SearchError(f"Invalid status: {status!r}")
        substatus = {
            "resolved": None,
            "ignored": "archived_until_escalating",
            "unresolved": "ongoing",
        }[status]
        if status == issue.status:
            return issue
        return self._replace(issue, status=status, substatus=substatus)

    def add_release(self, release: SentryRelease) -> int:
        """Add a release; returns its id."""
        number = max((n for n, _ in self.releases), default=0) + 1
        self.releases.append((number, release))
        return number


def _is_filter(value: str) -> Callable[[SentryIssue], bool]:
    if value in _STATUSES:
        return lambda i: i.status == value
    if value == "archived":
        return lambda i: i.status == "ignored"
    if value == "unassigned":
        return lambda i: i.assignee is None
    if value == "assigned":
        return lambda i: i.assignee is not None
    raise SearchError(f"Invalid search query: unsupported is:{value}")


def _parse_when(value: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise SearchError(f"Invalid date-time in search query: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
