"""Databases: the one engine factory, the tracker and lock stores, erasure, the schema migrations."""
