"""Staff accounts and console sessions: argon2 password hashes, cookies, CSRF, lockout."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.handoff.store import HandoffStore, StaffUser, aware, utcnow

COOKIE_NAME = "helpline_console"
SESSION_HOURS = 12
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
ROLES = ("staff", "supervisor")

_hasher = PasswordHasher()
# compared against when the username is unknown, so both cases take the same time
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class LoginError(Exception):
    def __init__(self, message: str, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


@dataclass
class LoggedIn:
    user: StaffUser
    token: str        # the cookie value (only its hash is stored)
    csrf: str


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def token_hash(token: str) -> str:
    # surrogateescape: a cookie that is not UTF-8 reaches us with its bytes escaped; it matches nothing
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()



class Accounts:
    def __init__(self, store: HandoffStore) -> None:
        self.store = store

    def create(self, username: str, display_name: str, password: str, role: str = "staff") -> StaffUser:
        username = username.strip().lower()
        if not username or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError("a username may use letters, digits, '.', '-' and '_' only")
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not display_name.strip():
            raise ValueError("a display name (the first name visitors see) is required")
        return self.store.add_staff(username, display_name.strip(), hash_password(password), role)

    def set_active(self, username: str, active: bool) -> StaffUser:
        user = self.store.staff_by_username(username.strip().lower())
        if user is None:
            raise ValueError(f"no staff account named {username!r}")
        self.store.update_staff(user.id, active=active, failed_logins=0, locked_until=None)
        return self.store.get_staff(user.id)

    def set_password(self, username: str, password: str) -> None:
        user = self.store.staff_by_username(username.strip().lower())
        if user is None:
            raise ValueError(f"no staff account named {username!r}")
        self.store.update_staff(user.id, password_hash=hash_password(password), failed_logins=0, locked_until=None)

    def login(self, username: str, password: str) -> LoggedIn:
        user = self.store.staff_by_username((username or "").strip().lower())
        if user is None or not user.active:
            _verify(_DUMMY_HASH, password)
            raise LoginError("wrong username or password")
        locked_until = aware(user.locked_until)
        if locked_until and locked_until > utcnow():
            raise LoginError("too many failed logins: this account is locked for 15 minutes", locked=True)
        if not _verify(user.password_hash, password):
            failures = user.failed_logins + 1
            if failures >= MAX_FAILED_LOGINS:
                self.store.update_staff(user.id, failed_logins=0, locked_until=utcnow() + LOCKOUT)
                self.store.audit(user.id, "locked_out")
                raise LoginError("too many failed logins: this account is locked for 15 minutes", locked=True)
            self.store.update_staff(user.id, failed_logins=failures)
            raise LoginError("wrong username or password")
        if user.failed_logins or user.locked_until:
            self.store.update_staff(user.id, failed_logins=0, locked_until=None)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.store.create_session(user.id, token_hash(token), csrf, utcnow() + timedelta(hours=SESSION_HOURS))
        self.store.audit(user.id, "logged_in")
        return LoggedIn(user, token, csrf)

    def session(self, token: Optional[str]):
        """(staff session, user) for a valid cookie value, else None."""
        if not token:
            return None
        return self.store.get_session(token_hash(token))

    def logout(self, token: str) -> None:
        self.store.delete_session(token_hash(token))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def csrf_ok(expected: str, given: Optional[str]) -> bool:
    # compare_digest refuses non-ASCII text (TypeError): such a header is simply wrong
    return bool(given) and given.isascii() and hmac.compare_digest(expected, given)
