"""Every deployment setting (``HELPLINE_*`` environment variables): its name, its default and
how it is read. The defaults need no services. README's settings table and .env.example list
them all (tests/test_config.py checks it).

Each reader takes an optional ``environ`` (default: the process's environment), so tests and
tools pass their own. A yes/no setting is read by ``flag`` only: 1/true/yes/on or 0/false/no/off,
any case; anything else is refused with a message naming the setting.
"""
from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Mapping, Optional, TypeVar, Union

from bot import PROJECT_ROOT

logger = logging.getLogger(__name__)

VAR = PROJECT_ROOT / "var"
DEFAULT_DATABASE_URL = f"sqlite:///{VAR / 'helpline.db'}"
DEFAULT_TRACKER_URL = f"sqlite:///{VAR / 'tracker.db'}"
SECRET_FILE = VAR / "secret.key"
DEFAULT_SPOOL = VAR / "outbox"

DATABASE_URL = "HELPLINE_DATABASE_URL"      # handoffs, transcripts, callbacks, staff accounts
TRACKER_URL = "HELPLINE_TRACKER_URL"        # Rasa's tracker store (endpoints.yml)
REDIS_URL = "HELPLINE_REDIS_URL"            # several servers: lock store and Socket.IO messages
PHONE = "HELPLINE_PHONE"
STAFF_HOURS = "HELPLINE_STAFF_HOURS"
TIMEZONE = "HELPLINE_TIMEZONE"
SECRET_KEY = "HELPLINE_SECRET_KEY"
COOKIE_SECURE = "HELPLINE_COOKIE_SECURE"
ALLOWED_ORIGINS = "HELPLINE_ALLOWED_ORIGINS"
AUTO_MIGRATE = "HELPLINE_AUTO_MIGRATE"
ACTION_TIMEOUT = "HELPLINE_ACTION_TIMEOUT"
FLOOD_MESSAGES = "HELPLINE_FLOOD_MESSAGES"
FLOOD_SECONDS = "HELPLINE_FLOOD_SECONDS"
MODEL_WATCH_SECONDS = "HELPLINE_MODEL_WATCH_SECONDS"
OUTBOX_DIR = "HELPLINE_OUTBOX_DIR"
RETENTION_DAYS = "HELPLINE_RETENTION_DAYS"
ENABLE_API = "HELPLINE_ENABLE_API"
API_TOKEN = "HELPLINE_API_TOKEN"
PORT = "HELPLINE_PORT"
ACTIONS_PORT = "HELPLINE_ACTIONS_PORT"
BIND = "HELPLINE_BIND"
ACTION_ENDPOINT = "HELPLINE_ACTION_ENDPOINT"

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")

Number = TypeVar("Number", int, float)


class ConfigError(ValueError):
    """A setting has a value that cannot be used: one line naming it."""


def _env(environ: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def raw(name: str, environ: Optional[Mapping[str, str]] = None) -> str:
    """The setting's value, stripped; "" when unset."""
    return (_env(environ).get(name) or "").strip()


def flag(name: str, default: bool, environ: Optional[Mapping[str, str]] = None) -> bool:
    """A yes/no setting (the one parser of them all); unset or empty: ``default``."""
    value = raw(name, environ).lower()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def number(name: str, default: Number, kind: Callable[[str], Number],
           environ: Optional[Mapping[str, str]] = None) -> Optional[Number]:
    """A numeric setting: ``default`` when unset, None when it is not a number of ``kind``."""
    value = raw(name, environ)
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        return None


# --------------------------------------------------------------------------- databases

def database_url(environ: Optional[Mapping[str, str]] = None) -> str:
    return _env(environ).get(DATABASE_URL) or DEFAULT_DATABASE_URL


def tracker_url(environ: Optional[Mapping[str, str]] = None) -> str:
    """HELPLINE_TRACKER_URL, else the SQLite file `make run` gives Rasa."""
    return _env(environ).get(TRACKER_URL) or DEFAULT_TRACKER_URL


def redis_url(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """HELPLINE_REDIS_URL, or None: one server, nothing shared."""
    return _env(environ).get(REDIS_URL) or None


def auto_migrate(environ: Optional[Mapping[str, str]] = None) -> bool:
    """HELPLINE_AUTO_MIGRATE: the servers upgrade the helpline database at start (default true)."""
    return flag(AUTO_MIGRATE, True, environ)


def retention_days(default: int, maximum: int, environ: Optional[Mapping[str, str]] = None) -> int:
    """HELPLINE_RETENTION_DAYS: a whole number of days from 1 to ``maximum``, else ``default``."""
    value = raw(RETENTION_DAYS, environ)
    if not value:
        return default
    days = number(RETENTION_DAYS, default, int, environ) or 0
    if not 1 <= days <= maximum:
        raise ConfigError(f"{RETENTION_DAYS} must be a whole number of days from 1 to {maximum}, not {value!r}")
    return days


def outbox_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """HELPLINE_OUTBOX_DIR (a relative path is taken from the project's folder), else var/outbox."""
    return PROJECT_ROOT / (_env(environ).get(OUTBOX_DIR) or DEFAULT_SPOOL)


# --------------------------------------------------------------------------- the servers

def allowed_origins(environ: Optional[Mapping[str, str]] = None) -> Union[str, List[str]]:
    """HELPLINE_ALLOWED_ORIGINS: page origins allowed to open the chat (comma-separated), or "*"."""
    origins = _env(environ).get(ALLOWED_ORIGINS) or "*"
    if origins == "*":
        return origins
    return [origin.strip() for origin in origins.split(",") if origin.strip()]


def action_timeout(default: float, environ: Optional[Mapping[str, str]] = None) -> float:
    """HELPLINE_ACTION_TIMEOUT: seconds the action server gets before the action runs in-process."""
    value = number(ACTION_TIMEOUT, default, float, environ)
    if value is None:
        logger.warning("%s=%r is not a number; using %s s", ACTION_TIMEOUT, raw(ACTION_TIMEOUT, environ), default)
        return default
    return value if value > 0 else default


def flood_setting(name: str, default: Number, kind: Callable[[str], Number],
                  environ: Optional[Mapping[str, str]] = None) -> Number:
    """HELPLINE_FLOOD_MESSAGES or HELPLINE_FLOOD_SECONDS: a number of 0 or more, else ``default``."""
    value = number(name, default, kind, environ)
    if value is None or value < 0:
        logger.warning("%s=%r is not a valid number; using %s", name, raw(name, environ), default)
        return default
    return value


def model_watch_seconds(default: float, environ: Optional[Mapping[str, str]] = None) -> float:
    """HELPLINE_MODEL_WATCH_SECONDS: seconds between two looks at the model file; 0 = off."""
    value = number(MODEL_WATCH_SECONDS, default, float, environ)
    if value is None:
        logger.warning("%s=%r is not a number of seconds; using %s", MODEL_WATCH_SECONDS,
                       raw(MODEL_WATCH_SECONDS, environ), default)
        return default
    return max(0.0, value)


def api_enabled(environ: Optional[Mapping[str, str]] = None) -> bool:
    """HELPLINE_ENABLE_API: Rasa's HTTP API on (needs HELPLINE_API_TOKEN); default off."""
    return flag(ENABLE_API, False, environ)


def api_token(environ: Optional[Mapping[str, str]] = None) -> str:
    return raw(API_TOKEN, environ)


def ports(environ: Optional[Mapping[str, str]] = None) -> "tuple[int, int]":
    """(HELPLINE_PORT, HELPLINE_ACTIONS_PORT): Rasa's port (5005) and the action server's (5055)."""
    env = _env(environ)
    return int(env.get(PORT, 5005)), int(env.get(ACTIONS_PORT, 5055))


def bind(environ: Optional[Mapping[str, str]] = None) -> str:
    """HELPLINE_BIND: the address `make run` binds both servers to. 127.0.0.1 by default: the
    action server has no authentication, so nothing outside this machine may reach it; behind a
    proxy on another machine, or in a container, set it (0.0.0.0) and keep the action port closed."""
    return _env(environ).get(BIND) or "127.0.0.1"


def action_endpoint(actions_port: int, environ: Optional[Mapping[str, str]] = None) -> str:
    """HELPLINE_ACTION_ENDPOINT, else the action server `make run` starts on ``actions_port``."""
    return _env(environ).get(ACTION_ENDPOINT) or f"http://127.0.0.1:{actions_port}/webhook"


# --------------------------------------------------------------------------- the helpline

@dataclass(frozen=True)
class Settings:
    database_url: str
    helpline_phone: Optional[str]   # the centre's own confidential line, per deployment
    staff_hours: str                # e.g. "mon-fri 09:00-17:00; sat 10:00-14:00"
    timezone: str                   # IANA name, e.g. "America/New_York"
    secret_key: str = ""            # signs chat session ids; see secret_key_from_env
    cookie_secure: bool = False     # set HELPLINE_COOKIE_SECURE=true behind HTTPS

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "Settings":
        env = _env(environ)
        return cls(
            database_url=database_url(env),
            helpline_phone=env.get(PHONE) or None,
            staff_hours=env.get(STAFF_HOURS, "mon-fri 09:00-17:00"),
            timezone=env.get(TIMEZONE, "America/New_York"),
            secret_key=secret_key_from_env(environ=env),
            cookie_secure=flag(COOKIE_SECURE, False, env),
        )


def secret_key_from_env(path: Path = SECRET_FILE, environ: Optional[Mapping[str, str]] = None) -> str:
    """HELPLINE_SECRET_KEY, or a random key kept in var/secret.key (made on first use).

    Several servers behind one address must share one key: set the variable.
    """
    key = _env(environ).get(SECRET_KEY)
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
