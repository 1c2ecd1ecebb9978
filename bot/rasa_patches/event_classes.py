"""Rasa's look-up of an event's class, remembered.

``Event.resolve_by_type`` walks every subclass of ``Event`` (and checks each for abstract
methods) for each event read back from the tracker store: loading a conversation of 30 events
cost about 1 ms of that alone, on every message. The cached look-up returns the same class
(tests/rasa_patches/test_event_classes.py).

``install()``: through bot/rasa_patches/__init__.py.
"""
from __future__ import annotations

from typing import Dict, Optional, Type

from rasa.shared.core.events import Event

_EVENT_CLASSES: Dict[str, Type[Event]] = {}
_resolve_by_type = Event.resolve_by_type


def cached_resolve_by_type(type_name: str, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    """``Event.resolve_by_type`` remembering what it found."""
    found = _EVENT_CLASSES.get(type_name)
    if found is None:
        found = _resolve_by_type(type_name, default)
        if found is not None and found is not default:
            _EVENT_CLASSES[type_name] = found
    return found


def install() -> None:
    Event.resolve_by_type = staticmethod(cached_resolve_by_type)  # type: ignore[assignment]
