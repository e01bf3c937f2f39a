"""Flow: where work spends its time, what is stuck, how pull requests move through review.

Pure code over frozen records (`insights.queries.sprint` loads them). The definitions, each also
in the README's metric table:

- A **visit** is one stay of a work item in one workflow status (Jira's ``original_status``,
  e.g. "Code Review"), from the transition into it to the transition out of it. The status an
  item is in at ``as_of`` counts up to ``as_of``. Before its first transition an item sits in
  that transition's from-status since it was created; an item without transitions sits in its
  current status since it was created. Zero-length visits (two changes in the same second) are
  dropped. A change at instant ``t`` has happened "at ``t``".
- **Time in status** of a window: the item-hours spent in an in-progress-category status inside
  the window (visits clipped to it), summed over items; its **share** is its part of the
  item-hours of all in-progress statuses.
- **Usual time** of a status: the median and 85th percentile (p85) of its *completed* visits
  (the item left the status) that ended inside the history window, in hours. Open visits are
  left out: their length is not known yet and would pull the percentile down.
- **Aging WIP**: items in an in-progress-category status at ``as_of`` whose current visit is
  longer than that status's p85. To Do items are not work in progress (their age measures the
  backlog, not flow); a status with no completed visit in the history is not judged.
- **Bottleneck**: the in-progress-category status with the most time in status in the window.
  By Little's law, item-time in a status divided by the window length is the average number of
  items sitting in it, so this is where work piles up. A total (rather than a median per visit)
  weighs how many items wait as well as how long, and counts rework loops (a second trip through
  review); a rarely used but slow status does not outrank one every item crawls through.
- **Active and wait statuses**: by default a status is active when its category is in progress
  and its name has none of the wait words (review, QA, test, blocked, waiting, hold, pending,
  ready, approval, verify); "In Progress" is active, "Code Review" and "QA" are wait states.
  Pass ``active`` (status names, any case) to decide per workflow. To Do and Done are never
  active.
- **Flow efficiency**: active time / cycle time, summed over the items that reached done (for
  the last time) inside the window. The cycle runs from the first entry into an in-progress
  status to that last entry into done.
- **WIP per assignee**: items in an in-progress status at ``as_of``, by assignee.
- **PR pickup time**: median of ``first_review_at - created_at`` over PRs first reviewed in the
  window. **PR review time**: median of ``merged_at - first_review_at`` over PRs merged in the
  window. **PR size**: median ``additions + deletions`` over PRs merged in the window.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from insights.common import HOUR, Window, hours, median, percentile, ratio

TODO, IN_PROGRESS, DONE = "todo", "in_progress", "done"
WAIT_WORDS = re.compile(
    r"\b(review\w*|qa|test\w*|block\w*|wait\w*|await\w*|hold|pending|ready|approv\w*|verif\w*)\b",
    re.IGNORECASE,
)
UNASSIGNED = "Unassigned"


# Slotted: a large board loads ~10k of these, and fewer tracked objects mean fewer and
# cheaper garbage-collector passes while they are built.
@dataclass(frozen=True, slots=True)
class Transition:
    """One status change from the changelog: workflow status names and their categories."""

    changed_at: dt.datetime
    from_status: str | None
    to_status: str | None
    from_category: str | None = None
    to_category: str | None = None


# Visits and item histories are NamedTuples: an organisation's sprint report builds ~25k visits
# and ~6k histories, and a NamedTuple is built by one ``tuple.__new__`` where a frozen dataclass
# pays one ``object.__setattr__`` per field.
class Visit(NamedTuple):
    """One stay in one status; ``end`` is None while the item is still there."""

    status: str
    category: str
    start: dt.datetime
    end: dt.datetime | None = None


class ItemHistory(NamedTuple):
    """A work item and its visits, oldest first."""

    key: str
    created_at: dt.datetime
    visits: tuple[Visit, ...]
    summary: str = ""
    assignee: str | None = None
    story_points: float | None = None

    def visits_until(self, as_of: dt.datetime) -> tuple[Visit, ...]:
        """The visits as they stood at ``as_of``: later ones dropped, the last one open."""
        last = self.visits[-1] if self.visits else None
        if last is None or (last.start <= as_of and (last.end is None or last.end <= as_of)):
            return self.visits  # all of them, as they are (the usual case: as_of is now)
        kept = []
        for visit in self.visits:
            if visit.start > as_of:
                break
            still_open = visit.end is not None and visit.end > as_of
            kept.append(Visit(visit.status, visit.category, visit.start) if still_open else visit)
        return tuple(kept)

    def visit_at(self, moment: dt.datetime) -> Visit | None:
        """The visit the item was in at ``moment`` (changes at ``moment`` included)."""
        found = None
        for visit in self.visits:
            if visit.start > moment:
                break
            found = visit
        return found

    def category_at(self, moment: dt.datetime) -> str | None:
        visit = self.visit_at(moment)
        return visit.category if visit else None

    def done_since(self, moment: dt.datetime) -> dt.datetime | None:
        """When the item last entered done, if it is done at ``moment`` (Done -> Closed is one
        stay in done); None when it is not done then."""
        last = self.visits[-1] if self.visits else None
        if last is not None and last.start <= moment and last.category != DONE:
            return None  # in its last status at ``moment``, and that is not done (most items)
        since = None
        for visit in self.visits:
            if visit.start > moment:
                break
            if visit.category != DONE:
                since = None
            elif since is None:
                since = visit.start
        return since


def visits_from(
    created_at: dt.datetime,
    current_status: str | None,
    current_category: str,
    transitions: Sequence[Transition],
) -> tuple[Visit, ...]:
    """The visits an item's transitions describe (see the module docstring)."""
    ordered = sorted(transitions, key=lambda t: t.changed_at)  # stable: ties keep the given order
    if not ordered:
        return (Visit(current_status or "Unknown", current_category, created_at),)
    visits = []
    first = ordered[0]
    if first.from_status:
        visits.append(
            Visit(first.from_status, first.from_category or TODO, created_at, first.changed_at)
        )
    ends: list[dt.datetime | None] = [t.changed_at for t in ordered[1:]]
    for change, end in zip(ordered, [*ends, None], strict=True):
        if change.to_status:
            category = change.to_category or IN_PROGRESS
            visits.append(Visit(change.to_status, category, change.changed_at, end))
    return tuple(v for v in visits if v.end is None or v.end > v.start)


def is_active(status: str, category: str, active: Collection[str] | None = None) -> bool:
    """Whether time in ``status`` is work being done (see the module docstring)."""
    if category != IN_PROGRESS:
        return False
    if active is not None:
        return status.casefold() in {a.casefold() for a in active}
    return not _waits(status)


@functools.lru_cache(maxsize=4096)
def _waits(status: str) -> bool:
    """Whether the status's name says work waits in it (asked once per visit: cached)."""
    return WAIT_WORDS.search(status) is not None


# ---------------------------------------------------------------- time in status


@dataclass(frozen=True)
class UsualTime:
    """Completed visits of one status in the history window, in hours."""

    visits: int
    median_hours: float | None
    p85_hours: float | None


def usual_times(items: Iterable[ItemHistory], history: Window) -> dict[str, UsualTime]:
    """Per status: the median and p85 of completed visits that ended inside ``history``."""
    lengths: dict[str, list[float]] = defaultdict(list)
    for item in items:
        for visit in item.visits:
            if visit.end is not None and visit.end in history:
                lengths[visit.status].append(hours(visit.end - visit.start))
    return {
        status: UsualTime(len(values), median(values), percentile(values, 85))
        for status, values in sorted(lengths.items())
    }


@dataclass(frozen=True)
class StatusTime:
    """One status over a window: item-hours in it, its share of in-progress time, its usual
    visit lengths (from the history) and how many items sit in it at the window's end."""

    status: str
    category: str
    active: bool
    hours: float
    items: int
    share: float | None
    usual: UsualTime | None
    now: int

    def as_row(self) -> dict[str, object]:
        return {
            "status": self.status,
            "kind": "active" if self.active else "wait",
            "item_hours": self.hours,
            "share_of_in_progress": self.share,
            "items": self.items,
            "in_status_now": self.now,
            "median_visit_hours": self.usual.median_hours if self.usual else None,
            "p85_visit_hours": self.usual.p85_hours if self.usual else None,
        }


def time_in_status(
    items: Iterable[ItemHistory],
    window: Window,
    usual: Mapping[str, UsualTime] | None = None,
    active: Collection[str] | None = None,
) -> tuple[StatusTime, ...]:
    """Item-hours per in-progress status inside ``window`` (visits clipped), most first.

    To Do and Done statuses are left out: they are not flow (and only items with recent
    activity are loaded, so a To Do total would count an arbitrary part of the backlog).
    ``share`` is the status's part of all in-progress item-hours.
    """
    spent: dict[str, float] = defaultdict(float)
    touched: dict[str, set[str]] = defaultdict(set)
    categories: dict[str, str] = {}
    sitting: dict[str, int] = defaultdict(int)
    first, last = window.start, window.end
    for item in items:  # ~6k items, ~25k visits on an organisation's boards: kept lean
        visits = item.visits_until(last)
        for visit in visits:
            if visit.category != IN_PROGRESS:
                continue
            start = visit.start if visit.start > first else first
            end = visit.end if visit.end is not None and visit.end < last else last
            if end <= start:
                continue
            spent[visit.status] += (end - start) / HOUR  # `hours`
            touched[visit.status].add(item.key)
            categories[visit.status] = visit.category
        if visits and visits[-1].category == IN_PROGRESS:
            sitting[visits[-1].status] += 1
    in_progress = sum(spent.values())
    rows = [
        StatusTime(
            status=status,
            category=categories[status],
            active=is_active(status, categories[status], active),
            hours=total,
            items=len(touched[status]),
            share=ratio(total, in_progress),
            usual=(usual or {}).get(status),
            now=sitting[status],
        )
        for status, total in spent.items()
    ]
    return tuple(sorted(rows, key=lambda r: (-r.hours, r.status)))


def bottleneck(statuses: Iterable[StatusTime]) -> StatusTime | None:
    """The in-progress status with the most item-hours (ties by name); None without any."""
    candidates = [s for s in statuses if s.category == IN_PROGRESS and s.hours > 0]
    return min(candidates, key=lambda s: (-s.hours, s.status), default=None)


@dataclass(frozen=True)
class AgingItem:
    key: str
    summary: str
    assignee: str | None
    status: str
    age_hours: float
    p85_hours: float

    def as_row(self) -> dict[str, object]:
        return {
            "key": self.key,
            "status": self.status,
            "assignee": self.assignee or UNASSIGNED,
            "days_in_status": self.age_hours / 24,
            "p85_days": self.p85_hours / 24,
            "summary": self.summary,
        }


def aging_wip(
    items: Iterable[ItemHistory], usual: Mapping[str, UsualTime], as_of: dt.datetime
) -> tuple[AgingItem, ...]:
    """Items in an in-progress status at ``as_of`` for longer than its p85, oldest (relative
    to the p85) first."""
    aging = []
    for item in items:
        visit = item.visit_at(as_of)
        if visit is None or visit.category != IN_PROGRESS or visit.status not in usual:
            continue
        p85 = usual[visit.status].p85_hours
        age = hours(as_of - visit.start)
        if p85 is not None and age > p85:
            aging.append(AgingItem(item.key, item.summary, item.assignee, visit.status, age, p85))
    return tuple(sorted(aging, key=lambda a: (-a.age_hours / max(a.p85_hours, 1e-9), a.key)))


# ---------------------------------------------------------------- efficiency and WIP


@dataclass(frozen=True)
class FlowEfficiency:
    items: int
    active_hours: float
    cycle_hours: float

    @property
    def value(self) -> float | None:
        return ratio(self.active_hours, self.cycle_hours)


def flow_efficiency(
    items: Iterable[ItemHistory], window: Window, active: Collection[str] | None = None
) -> FlowEfficiency:
    """Active time over cycle time of the items finished inside ``window`` (module docstring)."""
    count, active_hours, cycle_hours = 0, 0.0, 0.0
    for item in items:
        done = item.done_since(window.end)
        if done is None or done not in window:
            continue
        started = next((v.start for v in item.visits if v.category == IN_PROGRESS), None)
        if started is None or started >= done:
            continue
        count += 1
        cycle_hours += hours(done - started)
        for visit in item.visits:
            if started <= visit.start < done and is_active(visit.status, visit.category, active):
                active_hours += hours(min(visit.end or done, done) - visit.start)
    return FlowEfficiency(count, active_hours, cycle_hours)


@dataclass(frozen=True)
class AssigneeWip:
    assignee: str
    items: int
    points: float
    aging: int

    def as_row(self) -> dict[str, object]:
        return {
            "assignee": self.assignee,
            "in_progress": self.items,
            "points": self.points,
            "aging": self.aging,
        }


def wip_by_assignee(
    items: Iterable[ItemHistory], as_of: dt.datetime, aging: Iterable[AgingItem] = ()
) -> tuple[AssigneeWip, ...]:
    """Items in an in-progress status at ``as_of`` per assignee, most first."""
    aging_keys = {a.key for a in aging}
    counts: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    for item in items:
        if item.category_at(as_of) != IN_PROGRESS:
            continue
        row = counts[item.assignee or UNASSIGNED]
        row[0] += 1
        row[1] += item.story_points or 0.0
        row[2] += item.key in aging_keys
    rows = [AssigneeWip(name, int(n), points, int(a)) for name, (n, points, a) in counts.items()]
    return tuple(sorted(rows, key=lambda r: (-r.items, r.assignee)))


# ---------------------------------------------------------------- pull requests


@dataclass(frozen=True, slots=True)
class PullTiming:
    number: int
    repo: str
    created_at: dt.datetime
    first_review_at: dt.datetime | None = None
    merged_at: dt.datetime | None = None
    additions: int | None = None
    deletions: int | None = None


@dataclass(frozen=True)
class PullFlow:
    """Medians over the window; each with the number of PRs behind it."""

    pickup_hours: float | None
    pickup_pulls: int
    review_hours: float | None
    review_pulls: int
    size_lines: float | None
    size_pulls: int


def pull_flow(pulls: Iterable[PullTiming], window: Window) -> PullFlow:
    """PR pickup time, review time and size (see the module docstring)."""
    pickup, review, size = [], [], []
    for pull in pulls:
        if pull.first_review_at is not None and pull.first_review_at in window:
            pickup.append(hours(pull.first_review_at - pull.created_at))
        if pull.merged_at is not None and pull.merged_at in window:
            if pull.first_review_at is not None and pull.first_review_at <= pull.merged_at:
                review.append(hours(pull.merged_at - pull.first_review_at))
            if pull.additions is not None and pull.deletions is not None:
                size.append(float(pull.additions + pull.deletions))
    return PullFlow(
        median(pickup), len(pickup), median(review), len(review), median(size), len(size)
    )
