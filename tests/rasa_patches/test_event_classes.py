"""Rasa's event class look-up, remembered (bot/rasa_patches/event_classes.py): the same classes."""
from __future__ import annotations

from rasa.shared.core.events import BotUttered

from bot.rasa_patches.event_classes import cached_resolve_by_type


def test_event_classes_are_resolved_as_rasa_resolves_them(monkeypatch):
    import rasa.shared.utils.common
    from rasa.shared.core.events import Event

    monkeypatch.setattr(Event, "resolve_by_type", staticmethod(cached_resolve_by_type))
    for _ in range(2):  # the second time from the cache
        for cls in rasa.shared.utils.common.all_subclasses(Event):
            assert Event.resolve_by_type(cls.type_name) is next(
                c for c in rasa.shared.utils.common.all_subclasses(Event) if c.type_name == cls.type_name)
    assert Event.resolve_by_type("no such event", default=BotUttered) is BotUttered
    assert Event.resolve_by_type("topic") is None
