"""Shared fixtures: databases for the handoff store, trackers for actions."""
from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

POSTGRES_URL = os.environ.get("HELPLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def run_async(coroutine):
    """asyncio.run in a thread of its own. While a browser test module has its browser open,
    Playwright's sync API keeps an event loop running on the main thread, and asyncio.run
    refuses to start under a running loop."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def postgres_or_skip(url: str = POSTGRES_URL) -> str:
    """The PostgreSQL URL, or skip with the reason; under CI=true a missing server fails."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url, future=True)
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
        return url
    except Exception as exc:  # any driver or connection error
        reason = f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}: {exc}".splitlines()[0]
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
        pytest.skip(reason)


@contextmanager
def postgres_schema(name: str):
    """The URL of a PostgreSQL schema of the test's own (made empty, dropped afterwards)."""
    from sqlalchemy import create_engine, text

    url = postgres_or_skip()
    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        connection.execute(text(f'drop schema if exists "{name}" cascade'))
        connection.execute(text(f'create schema "{name}"'))
    try:
        yield f"{url}?options=-csearch_path%3D{name}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'drop schema if exists "{name}" cascade'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'helpline.db'}"
        return
    with postgres_schema(f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}") as url:
        yield url
