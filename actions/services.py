"""Shared services for the actions, created on first use (never at import)."""
from __future__ import annotations

from functools import lru_cache

from bot.handoff.hours import StaffHours
from bot.handoff.store import HandoffStore
from bot.config import Settings


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=1)
def store() -> HandoffStore:
    return HandoffStore(settings().database_url)


@lru_cache(maxsize=1)
def staff_hours() -> StaffHours:
    return StaffHours.parse(settings().staff_hours, settings().timezone)
