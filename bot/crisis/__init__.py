"""Deterministic crisis detection (spaCy rules from ``data/crisis/patterns.yml``)."""
from bot.crisis.detector import CrisisDetector, CrisisResult, PatternError, TIERS

# the intent each tier's messages get (set by bot/nlu/crisis.py, answered by data/rules/crisis.yml)
CRISIS_INTENTS = {f"crisis_{tier}": tier for tier in TIERS}

__all__ = ["CRISIS_INTENTS", "CrisisDetector", "CrisisResult", "PatternError", "TIERS"]
