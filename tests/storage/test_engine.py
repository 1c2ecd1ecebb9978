"""The one engine factory (bot/storage/engine.py): nothing else in the project makes an engine."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.storage.engine import DatabaseError, database_engine, open_engine

FACTORY = PROJECT_ROOT / "bot" / "storage"


def engine_calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in ("create_engine", "sqlite_engine"):
                yield node.lineno


def test_engines_are_made_in_storage_only():
    outside = [f"{path.relative_to(PROJECT_ROOT)}:{line}"
               for folder in ("bot", "actions") for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))
               if FACTORY not in path.parents for line in engine_calls(path)]
    assert outside == [], "make engines with bot.storage.engine (engine_options, SQLite pooling)"


def test_a_missing_sqlite_file_is_made_only_when_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'var' / 'h.db'}"
    assert open_engine(url) is None and not (tmp_path / "var").exists()
    engine = database_engine(url)
    with engine.connect():
        pass
    engine.dispose()
    assert (tmp_path / "var" / "h.db").is_file()


def test_a_file_that_is_not_sqlite_is_refused_before_anything_is_written(tmp_path):
    bogus = tmp_path / "h.db"
    bogus.write_text("not a database")
    with pytest.raises(DatabaseError, match="is not an SQLite database"):
        open_engine(f"sqlite:///{bogus}")
    assert bogus.read_text() == "not a database"


def test_postgresql_gets_the_schema_and_a_connect_timeout(monkeypatch):
    pytest.importorskip("psycopg2")
    monkeypatch.setenv("POSTGRESQL_SCHEMA", "helpline")
    seen = {}

    import sqlalchemy

    monkeypatch.setattr(sqlalchemy, "create_engine", lambda url, **kwargs: seen.update(kwargs) or "engine")
    assert open_engine("postgresql://u:p@db/helpline", pool_size=5, connect_args={"application_name": "t"}) \
        == "engine"
    assert seen["connect_args"] == {"connect_timeout": 10, "options": "-csearch_path=helpline",
                                    "application_name": "t"}
    assert seen["pool_pre_ping"] is True and seen["pool_size"] == 5
