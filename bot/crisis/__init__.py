"""Deterministic crisis detection (spaCy rules from ``data/crisis/patterns.yml``)."""
from bot.crisis.detector import CrisisDetector, CrisisResult, PatternError, TIERS

__all__ = ["CrisisDetector", "CrisisResult", "PatternError", "TIERS"]
