"""Custom actions, served by `rasa run actions` (rasa-sdk) on port 5055."""
from bot.privacy import logmask

logmask.install()  # phone numbers and e-mail addresses never reach the action server's log

from actions import callback, fallback, handoff  # noqa: E402, F401  (registers the actions, after the filter)
