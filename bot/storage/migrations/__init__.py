"""Alembic migrations of the helpline database: env.py, script.py.mako and versions/ (see bot/storage/migrate.py)."""
