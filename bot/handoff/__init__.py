"""Handoff requests, callback requests and staff hours."""
