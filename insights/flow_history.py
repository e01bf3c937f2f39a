"""A board's status history in compact form: the usual time per status, and which items the
flow window can see.

Pure code, like `insights.flow`, whose definitions it follows. A board's usual times read every
visit that ended in the 180-day history window: on a large organisation ~50k items and ~250k
visits, of which the flow window (two weeks or the sprint) shows a few thousand. Building a
`flow.ItemHistory` for each of them cost seconds, so the loader hands the history over as
`Changelog` tuples (plain integers and strings), and builds `flow.ItemHistory` only for the
items `stood_still` does not rule out.

Both paths give the same numbers: `usual_times` over the changelogs of some items equals
`flow.usual_times` over the `flow.ItemHistory` of the same items (a test checks it on random
histories).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence

from insights.common import median, percentile
from insights.flow import IN_PROGRESS, UsualTime

# Microseconds in an hour: ``us / HOUR_US == timedelta / HOUR``, bit for bit.
HOUR_US = 3_600_000_000

# An item's status changes: ``(instants, first_from, to_statuses)``. ``instants`` holds integer
# microseconds since one fixed epoch (the loader's): the item's creation, then each change,
# oldest first (ties in changelog order). ``first_from`` is the status before the first change,
# ``to_statuses`` the status after each. Workflow status names; ``""`` stands for none, as
# `flow.visits_from` treats ``None`` and ``""`` alike. Plain tuples: there are ~50k of them.
Changelog = tuple[Sequence[int], str, Sequence[str]]


class UsualTimes:
    """`flow.usual_times` over the history window ``[since, until)``, fed one changelog at a
    time (so the loader keeps no changelog alive: only the visit lengths, in microseconds)."""

    def __init__(self, since: int, until: int) -> None:
        self.since, self.until = since, until
        self.lengths: dict[str, list[int]] = defaultdict(list)

    def add(self, instants: Sequence[int], first_from: str, to_statuses: Sequence[str]) -> None:
        """One item's changelog (see `Changelog`).

        A visit ends at a change: the change at ``instants[i]`` ends the visit that began at
        ``instants[i - 1]``, in the status the change before it led to (the first change: in
        its from-status, since creation). Only the changes inside the window end a visit that
        counts, so a bisection skips the others. Lengths stay integers until `result`.
        """
        low = bisect_left(instants, self.since, 1)
        high = bisect_left(instants, self.until, 1)
        if low == high:
            return
        lengths = self.lengths
        statuses = [first_from, *to_statuses]  # the status of the visit from instants[i]
        for status, start, end in zip(
            statuses[low - 1 : high - 1],
            instants[low - 1 : high - 1],
            instants[low:high],
            strict=True,
        ):
            if status and end > start:  # zero-length visits are dropped, as in visits_from
                lengths[status].append(end - start)

    def result(self) -> dict[str, UsualTime]:
        found = {}
        for status, micros in sorted(self.lengths.items()):
            values = [length / HOUR_US for length in micros]
            found[status] = UsualTime(len(values), median(values), percentile(values, 85))
        return found


def usual_times(changelogs: Iterable[Changelog], since: int, until: int) -> dict[str, UsualTime]:
    """`flow.usual_times` of these items over the history window ``[since, until)``."""
    tally = UsualTimes(since, until)
    for changelog in changelogs:
        tally.add(*changelog)
    return tally.result()


def stood_still(instants: Sequence[int], to_status: str, to_category: str, start: int) -> bool:
    """Whether the item's last change (to ``to_status``, of ``to_category``) came before
    ``start`` and left it in a to-do or done status: a named status whose category is set and
    not in progress.

    Such an item adds nothing to a window that begins at ``start``: every visit but the last
    ended before it, and the last one began before it in a status that is not in progress (if
    done, done before the window). So it changes no time in status, bottleneck, flow efficiency,
    WIP or ageing number of that window; its visits still count in the usual times, which
    `usual_times` reads from the changelogs. An item without changes sits in its current
    status: the caller judges it by that.
    """
    if len(instants) < 2 or instants[-1] >= start:
        return False
    return bool(to_status) and (to_category or IN_PROGRESS) != IN_PROGRESS
