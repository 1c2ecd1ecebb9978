"""Custom actions, served by `rasa run actions` (rasa-sdk) on port 5055."""
from actions import callback, fallback, handoff  # noqa: F401  (registers the actions)
