from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.handoff.hours import HoursError, StaffHours

NY = ZoneInfo("America/New_York")


def at(*args, zone=NY):
    return datetime(*args, tzinfo=zone)


def test_weekday_hours_in_the_centres_time_zone():
    hours = StaffHours.parse("mon-fri 09:00-17:00", "America/New_York")
    assert hours.is_open(at(2026, 11, 23, 9, 0))          # Monday 09:00
    assert not hours.is_open(at(2026, 11, 23, 17, 0))     # closing time is closed
    assert not hours.is_open(at(2026, 11, 22, 12, 0))     # Sunday
    # 15:30 UTC is 10:30 in New York in November: open
    assert hours.is_open(datetime(2026, 11, 23, 15, 30, tzinfo=ZoneInfo("UTC")))
    # 23:30 UTC on Monday is 18:30 in New York: closed
    assert not hours.is_open(datetime(2026, 11, 23, 23, 30, tzinfo=ZoneInfo("UTC")))


def test_several_windows_and_a_range_over_the_weekend():
    hours = StaffHours.parse("fri-mon 20:00-23:00; wed 10:00-12:00", "Europe/London")
    london = ZoneInfo("Europe/London")
    assert hours.is_open(at(2026, 11, 22, 21, 0, zone=london))   # Sunday evening
    assert hours.is_open(at(2026, 11, 25, 11, 0, zone=london))   # Wednesday morning
    assert not hours.is_open(at(2026, 11, 24, 21, 0, zone=london))  # Tuesday evening


def test_round_the_clock():
    hours = StaffHours.parse("mon-sun 00:00-24:00", "America/New_York")
    assert hours.is_open(at(2026, 11, 22, 0, 0)) and hours.is_open(at(2026, 11, 22, 23, 59, 59))


@pytest.mark.parametrize("text, zone, message", [
    ("mon-fri 9-5", "America/New_York", "cannot read"),
    ("someday 09:00-17:00", "America/New_York", "cannot read"),
    ("mon 17:00-09:00", "America/New_York", "end time must be after"),
    ("", "America/New_York", "empty"),
    ("mon 09:00-17:00", "Mars/Olympus", "unknown time zone"),
    ("mon 25:00-26:00", "America/New_York", "cannot read the times"),
])
def test_bad_settings_are_refused_with_the_reason(text, zone, message):
    with pytest.raises(HoursError, match=message):
        StaffHours.parse(text, zone)
