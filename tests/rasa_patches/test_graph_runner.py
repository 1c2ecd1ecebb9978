"""The graph run in a plain loop gives what Rasa's dask runner gives (bot/rasa_patches/graph_runner.py)."""

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.engine.runner.dask import DaskGraphRunner

from bot import PROJECT_ROOT
from bot.rasa_patches.graph_runner import SequentialGraphRunner, install
from tests.conftest import run_async

MODEL = PROJECT_ROOT / "models" / "helpline.tar.gz"
MESSAGES = ["hi", "is klonopin addictive", "how long does withdrawal last", "i took all my pills and feel sleepy",
            "can i get a callback", "yes", "what is the typical dose", "I want to talk to a person", "thanks", "bye"]


def comparable(event):
    """An event without what differs from run to run (time, model and message ids)."""
    event = {k: v for k, v in event.items() if k not in ("timestamp", "metadata", "message_id")}
    if "parse_data" in event:
        event["parse_data"] = {k: v for k, v in event["parse_data"].items() if k != "message_id"}
    return event


def conversation(runner_class, monkeypatch):
    import rasa.core.processor

    monkeypatch.setattr(rasa.core.processor, "DaskGraphRunner", runner_class)

    async def talk():
        agent = Agent.load(str(MODEL))
        assert type(agent.processor.graph_runner) is runner_class
        replies, parses = [], []
        for text in MESSAGES:
            parse = await agent.parse_message(text)
            parses.append({k: parse[k] for k in ("intent", "intent_ranking", "response_selector", "entities")
                           if k in parse} | {"crisis": parse.get("crisis")})
            output = CollectingOutputChannel()
            await agent.handle_message(UserMessage(text, output, "visitor-1"))
            replies.append([(m.get("text"), m.get("custom"), m.get("buttons")) for m in output.messages])
        tracker = await agent.tracker_store.retrieve("visitor-1")
        return parses, replies, [comparable(e.as_dict()) for e in tracker.events]

    return run_async(talk())


@pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model (make train)")
def test_the_plain_loop_answers_exactly_as_dask_does(monkeypatch):
    theirs = conversation(DaskGraphRunner, monkeypatch)
    ours = conversation(SequentialGraphRunner, monkeypatch)
    assert ours[0] == theirs[0], "NLU results differ"
    assert ours[1] == theirs[1], "replies differ"
    assert ours[2] == theirs[2], "conversations differ"
    assert any(reply for reply in ours[1]) and len(ours[2]) > 20


def test_install_makes_rasa_load_models_with_it(monkeypatch):
    import rasa.core.processor

    monkeypatch.setattr(rasa.core.processor, "DaskGraphRunner", DaskGraphRunner)
    install()
    assert rasa.core.processor.DaskGraphRunner is SequentialGraphRunner
