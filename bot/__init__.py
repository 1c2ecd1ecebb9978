"""Helpline Assistant: NLU components, crisis rules, handoff store and project tools."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
