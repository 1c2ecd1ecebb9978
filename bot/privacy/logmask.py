"""Phone numbers and e-mail addresses masked in every log line (patterns: bot/privacy/masking.py).

Visitors type their phone number (the callback form asks for it) and sometimes an
e-mail address, and Rasa logs what visitors type at DEBUG level (``processor.message.parse``,
the events of a turn, the action server's requests). ``MaskingFilter`` rewrites each log
record before a handler writes it: the formatted message, a traceback's text and
Sanic's access-log request line.

``install()`` puts the filter on every handler of the root logger and of any other logger
that has handlers (Sanic's); it is idempotent, so it is called again once handlers may have
been added. The Rasa server installs it when it makes any of the project's channels
(bot/rasa_patches/__init__.py), and again when the server starts; the action server when it
imports ``actions``.

    masked("call me on (412) 555-0134 or mail jo@example.org")
    -> "call me on [phone] or mail [email]"

Ordinary numbers stay ("2 mg", "24 hours", "1-2 weeks", dates, times, version numbers).
"""
from __future__ import annotations

import logging
from typing import Iterable, Optional

from bot.privacy.masking import EMAIL, PHONE, masked

__all__ = ["EMAIL", "PHONE", "MaskingFilter", "install", "masked"]


class MaskingFilter(logging.Filter):
    """Rewrites a record's message (its arguments merged in), traceback and request line."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it, unmasked parts not merged
            message = str(record.msg)
        record.msg, record.args = masked(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = masked(record.exc_text)
        if record.stack_info:
            record.stack_info = masked(record.stack_info)
        request = getattr(record, "request", None)  # Sanic's access log: "GET http://host/path"
        if isinstance(request, str):
            record.request = masked(request)
        return True


_FILTER = MaskingFilter()


def _handlers(loggers: Optional[Iterable[logging.Logger]]) -> Iterable[logging.Handler]:
    if loggers is None:
        loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                           if isinstance(logger, logging.Logger)]
    for logger in loggers:
        yield from list(logger.handlers)


def install(loggers: Optional[Iterable[logging.Logger]] = None) -> int:
    """Add the filter to the handlers of the root logger and every logger with handlers of
    its own (or of ``loggers``); returns how many handlers got it now."""
    added = 0
    for handler in _handlers(loggers):
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(_FILTER)
            added += 1
    return added
