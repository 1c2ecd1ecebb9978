"""``install()`` puts every replacement in place, and every channel of the project calls it:
a deployment that lists only the REST channel keeps the "action server down" answers."""
from __future__ import annotations

import logging

import pytest
import rasa.core.processor
from rasa.core.actions.action import RemoteAction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event

from bot.config import Settings
from bot.handoff.store import HandoffStore
from bot.privacy.logmask import MaskingFilter
from bot.rasa_patches import action_fallback, dialogue_states, event_classes, graph_runner, rule_keys


@pytest.fixture
def rasa_as_shipped(monkeypatch):
    """Rasa's own steps for the test (and whatever was installed before, back afterwards)."""
    monkeypatch.setattr(RemoteAction, "run", action_fallback._original_run)
    monkeypatch.setattr(RulePolicy, "_get_possible_keys", rule_keys._rasa_get_possible_keys)
    monkeypatch.setattr(Domain, "states_for_tracker_history", dialogue_states._rasa_states_for_tracker_history)
    monkeypatch.setattr(Event, "resolve_by_type", event_classes._resolve_by_type)
    monkeypatch.setattr(rasa.core.processor, "DaskGraphRunner", DaskGraphRunner)
    handler = logging.StreamHandler()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def installed(handler: logging.Handler) -> dict:
    return {
        "action fallback": RemoteAction.run is action_fallback._run_with_fallback,
        "rule keys": RulePolicy._get_possible_keys is rule_keys.get_possible_keys,
        "dialogue states": Domain.states_for_tracker_history is dialogue_states.states_for_tracker_history,
        "event classes": Event.resolve_by_type is event_classes.cached_resolve_by_type,
        "graph runner": rasa.core.processor.DaskGraphRunner is graph_runner.SequentialGraphRunner,
        "log filter": any(isinstance(f, MaskingFilter) for f in handler.filters),
    }


def test_rasa_as_shipped_has_none_of_them(rasa_as_shipped):
    assert not any(installed(rasa_as_shipped).values())


def test_the_rest_channel_alone_installs_every_patch(rasa_as_shipped):
    from bot.channels.rest import CheckedRestInput

    CheckedRestInput()
    assert all(installed(rasa_as_shipped).values()), installed(rasa_as_shipped)


def test_the_web_chat_installs_every_patch(rasa_as_shipped, tmp_path):
    from bot.channels.webchat import WebChatInput

    url = f"sqlite:///{tmp_path / 'helpline.db'}"
    store = HandoffStore(url)
    try:
        WebChatInput(settings=Settings(url, None, "mon-sun 00:00-24:00", "America/New_York", secret_key="k"),
                     store=store)
        assert all(installed(rasa_as_shipped).values()), installed(rasa_as_shipped)
    finally:
        store.engine.dispose()
