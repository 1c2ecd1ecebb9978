"""Deployment settings, all from environment variables (defaults need no services)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from bot import PROJECT_ROOT

DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'helpline.db'}"


@dataclass(frozen=True)
class Settings:
    database_url: str
    helpline_phone: Optional[str]   # the centre's own confidential line, per deployment
    staff_hours: str                # e.g. "mon-fri 09:00-17:00; sat 10:00-14:00"
    timezone: str                   # IANA name, e.g. "America/New_York"

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            database_url=os.environ.get("HELPLINE_DATABASE_URL", DEFAULT_DATABASE_URL),
            helpline_phone=os.environ.get("HELPLINE_PHONE") or None,
            staff_hours=os.environ.get("HELPLINE_STAFF_HOURS", "mon-fri 09:00-17:00"),
            timezone=os.environ.get("HELPLINE_TIMEZONE", "America/New_York"),
        )
