"""Database URLs: parsing with a clear error, the password kept out of messages, and PostgreSQL
connection options (a connect timeout, Rasa's POSTGRESQL_SCHEMA)."""
from __future__ import annotations

import os
import re
from typing import Any, Dict, Type

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


def redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", url)


def first_line(exc: BaseException) -> str:
    """The first line of a (database) error, for a one-line message."""
    detail = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
    return lines[0] if lines else exc.__class__.__name__


def parse(url: str, error: Type[Exception]) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise error(
            f"not a database URL: {redact(url)!r} (expected e.g. sqlite:///var/tracker.db "
            f"or postgresql://user:password@host:5432/helpline)"
        ) from None


def engine_options(parsed: URL) -> Dict[str, Any]:
    """create_engine options: on PostgreSQL a connect timeout, and Rasa's POSTGRESQL_SCHEMA."""
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() != "psycopg2":
        return {}
    connect_args: Dict[str, Any] = {"connect_timeout": 10}
    schema = os.environ.get("POSTGRESQL_SCHEMA")  # Rasa's own setting for its tracker store
    if schema and "options" not in parsed.query:
        connect_args["options"] = f"-csearch_path={schema}"
    return {"connect_args": connect_args}
