"""Deployment settings, all from environment variables (defaults need no services)."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bot import PROJECT_ROOT

DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'helpline.db'}"
SECRET_FILE = PROJECT_ROOT / "var" / "secret.key"


@dataclass(frozen=True)
class Settings:
    database_url: str
    helpline_phone: Optional[str]   # the centre's own confidential line, per deployment
    staff_hours: str                # e.g. "mon-fri 09:00-17:00; sat 10:00-14:00"
    timezone: str                   # IANA name, e.g. "America/New_York"
    secret_key: str = ""            # signs chat session ids; see secret_key_from_env
    cookie_secure: bool = False     # set HELPLINE_COOKIE_SECURE=true behind HTTPS

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            database_url=os.environ.get("HELPLINE_DATABASE_URL", DEFAULT_DATABASE_URL),
            helpline_phone=os.environ.get("HELPLINE_PHONE") or None,
            staff_hours=os.environ.get("HELPLINE_STAFF_HOURS", "mon-fri 09:00-17:00"),
            timezone=os.environ.get("HELPLINE_TIMEZONE", "America/New_York"),
            secret_key=secret_key_from_env(),
            cookie_secure=os.environ.get("HELPLINE_COOKIE_SECURE", "").lower() in ("1", "true", "yes"),
        )


def secret_key_from_env(path: Path = SECRET_FILE) -> str:
    """HELPLINE_SECRET_KEY, or a random key kept in var/secret.key (made on first use).

    Several servers behind one address must share one key: set the variable.
    """
    key = os.environ.get("HELPLINE_SECRET_KEY")
    if key:
        return key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip()
