"""Staff hours: "mon-fri 09:00-17:00; sat 10:00-14:00" in one IANA time zone."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import List, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_PART = re.compile(r"^(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+(?P<t1>\d{1,2}:\d{2})-(?P<t2>\d{1,2}:\d{2})$")


class HoursError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    days: frozenset
    start: time
    end: time


@dataclass(frozen=True)
class StaffHours:
    windows: List[Window]
    zone: ZoneInfo
    text: str

    @classmethod
    def parse(cls, text: str, timezone: str) -> "StaffHours":
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise HoursError(f"unknown time zone {timezone!r}") from exc
        windows = []
        for part in filter(None, (p.strip().lower() for p in text.split(";"))):
            match = _PART.match(part)
            if not match or match["d1"] not in DAYS or (match["d2"] and match["d2"] not in DAYS):
                raise HoursError(f"cannot read staff hours {part!r}: expected e.g. 'mon-fri 09:00-17:00'")
            first = DAYS.index(match["d1"])
            last = DAYS.index(match["d2"] or match["d1"])
            days = DAYS[first:last + 1] if first <= last else DAYS[first:] + DAYS[:last + 1]
            try:
                start = time.fromisoformat(match["t1"].zfill(5))
                # "24:00" closes at the end of the day (round-the-clock staffing)
                end = time.max if match["t2"] == "24:00" else time.fromisoformat(match["t2"].zfill(5))
            except ValueError as exc:
                raise HoursError(f"cannot read the times in {part!r}") from exc
            if end <= start:
                raise HoursError(f"{part!r}: the end time must be after the start time")
            windows.append(Window(frozenset(days), start, end))
        if not windows:
            raise HoursError("staff hours are empty")
        return cls(windows, zone, f"{text.strip()} ({timezone})")

    def is_open(self, now: Optional[datetime] = None) -> bool:
        local = (now or datetime.now(tz=self.zone)).astimezone(self.zone)
        day, clock = DAYS[local.weekday()], local.time()
        return any(day in w.days and w.start <= clock and (clock < w.end or w.end == time.max)
                   for w in self.windows)
