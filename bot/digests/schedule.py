"""When a subscription next fires: the subscriber's wall clock, turned into a UTC instant.

Pure. A daily digest at 09:00 Europe/Berlin fires at 08:00 UTC in winter and 07:00 UTC in summer:
the local time is what the subscriber chose, so it is what stays fixed across DST changes. A
local time that does not exist on a spring-forward day (02:30) fires at the same offset it would
have had before the change (03:30 local), the reading `zoneinfo` gives with ``fold=0``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class BadTimeZone(ValueError):
    """Not an IANA time zone name; the message suggests close names."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        from rapidfuzz import process

        close = [m[0] for m in process.extract(name, sorted(available_timezones()), limit=3)]
        raise BadTimeZone(
            f"unknown time zone {name!r}; use an IANA name such as {', '.join(close)}"
        ) from None


def next_run(
    *,
    cadence: str,
    at: dt.time,
    time_zone: str,
    after: dt.datetime,
    weekday: int = 0,
) -> dt.datetime:
    """The first instant strictly after ``after`` when the local clock in ``time_zone`` reads
    ``at`` (on ``weekday``, Monday = 0, for a weekly cadence), in UTC."""
    tz = zone(time_zone)
    local = after.astimezone(tz)
    day = local.date()
    for _ in range(15):  # two weeks and a day always contain the next run
        if cadence == "daily" or day.weekday() == weekday:
            candidate = dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)
            if candidate > after:
                return candidate
        day += dt.timedelta(days=1)
    raise AssertionError("unreachable: no run within two weeks")
