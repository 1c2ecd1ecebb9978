"""Reload a newly trained model into the running Rasa server, without a restart.

`make train` writes a new model file over the one the server was started with. This
watcher, started with the web chat channel, notices it and swaps the server's agent:

- every HELPLINE_MODEL_WATCH_SECONDS (default 2; 0 turns the watcher off) it looks at
  the model file the running agent was loaded from (its inode, size and mtime);
- a changed file is loaded once it has stayed the same for one more poll, so a model
  that is still being written is never read;
- the model is unpacked and loaded in a worker thread, so the event loop keeps answering
  with the old model meanwhile;
- the new agent shares the old one's tracker store (the conversations), lock store (one
  message at a time per conversation, across the swap) and action endpoint, then replaces
  ``app.ctx.agent``: the swap Rasa's own ``PUT /model`` does (rasa/server.py), without
  enabling Rasa's HTTP API. Messages being handled finish with the old model, the next
  ones use the new one, as every channel reads ``app.ctx.agent`` per message;
- a model that fails to load is logged and the old one keeps answering; the file is tried
  again when it changes.

Only the Rasa model is reloaded: a change to the custom actions (actions/) still needs a
restart of the action server.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from pathlib import Path
from typing import Mapping, Optional, Tuple

from rasa.core.agent import Agent
from rasa.core.nlg import NaturalLanguageGenerator, TemplatedNaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from sanic import Blueprint, Sanic

from bot import config

logger = logging.getLogger(__name__)

WATCH_ENV = config.MODEL_WATCH_SECONDS
DEFAULT_INTERVAL = 2.0

# what identifies one version of the model file: inode, size, modification time (ns)
FileSignature = Tuple[int, int, int]


def file_signature(path: Path) -> Optional[FileSignature]:
    """The file's inode, size and mtime, or None while it does not exist."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def watch_interval(env: Optional[Mapping[str, str]] = None) -> float:
    """Seconds between two looks at the model file (HELPLINE_MODEL_WATCH_SECONDS); 0 = off."""
    return config.model_watch_seconds(DEFAULT_INTERVAL, env)


def load_processor(model_path: Path, current: Agent) -> MessageProcessor:
    """Load the model at ``model_path`` with the current agent's stores and endpoints.

    The slow part of a reload (unpacking the archive, loading every component); it only
    builds new objects, so it can run in a worker thread while ``current`` keeps answering.
    """
    generator: NaturalLanguageGenerator = current.nlg
    if isinstance(generator, TemplatedNaturalLanguageGenerator):
        # the responses live in the model's domain: a generator of their own for the new model
        generator = TemplatedNaturalLanguageGenerator({})
    processor = MessageProcessor(
        model_path=model_path,
        tracker_store=current.tracker_store,
        lock_store=current.lock_store,
        generator=generator,
        action_endpoint=current.action_endpoint,
        http_interpreter=current.http_interpreter,
    )
    if isinstance(generator, TemplatedNaturalLanguageGenerator):
        generator.responses = processor.domain.responses
    return processor


def agent_for(processor: MessageProcessor, current: Agent) -> Agent:
    """An agent around a loaded processor that shares ``current``'s stores and endpoints.

    The end of ``Agent.load_model``, run on the event loop right before the swap: it has
    no ``await``, so no message sees the tracker store between two domains.
    """
    agent = Agent(
        domain=processor.domain,
        generator=processor.nlg,
        lock_store=current.lock_store,
        action_endpoint=current.action_endpoint,
        model_server=current.model_server,
        remote_storage=current.remote_storage,
        http_interpreter=current.http_interpreter,
    )
    agent.tracker_store = current.tracker_store  # the same conversations, not a new store
    agent.processor = processor
    agent.tracker_store.domain = processor.domain  # trackers are read with the new model's slots
    return agent


class ModelWatcher:
    """Polls one model file and swaps the Sanic app's agent when a new version is complete."""

    def __init__(self, app: Sanic, model_path: Path, interval: float) -> None:
        self.app = app
        self.model_path = model_path
        self.interval = interval
        self.attempted = file_signature(model_path)  # the version loaded (or tried) last
        self._seen = self.attempted  # the version seen at the previous poll

    def due(self) -> Optional[FileSignature]:
        """The file's new version once it has stayed the same for a whole poll, else None."""
        current = file_signature(self.model_path)
        previous, self._seen = self._seen, current
        if current is None or current == self.attempted or current != previous:
            return None
        return current

    async def check(self) -> bool:
        """One poll: reload if a new, complete model is there. True when the model was swapped."""
        signature = self.due()
        if signature is None:
            return False
        self.attempted = signature  # a file that fails to load is not retried until it changes
        return await self.reload()

    async def reload(self) -> bool:
        """Load the model file in a worker thread and swap it in; on failure keep the old one."""
        current: Agent = self.app.ctx.agent
        started = time.monotonic()
        logger.info("New model file %s: loading it while the current model keeps answering", self.model_path)
        try:
            processor = await asyncio.to_thread(load_processor, self.model_path, current)
        except Exception as error:  # any error in any component: the server must keep answering
            logger.exception("Model reload failed: %s could not be loaded (%s: %s); the previous model keeps "
                             "answering", self.model_path, type(error).__name__, error)
            return False
        self.app.ctx.agent = agent_for(processor, current)
        freeze_loaded_objects()
        logger.info("Model reloaded: %s (%.1f s)", self.model_path, time.monotonic() - started)
        return True

    async def run(self) -> None:
        """Poll until cancelled (when the server stops)."""
        logger.info("Watching %s for new models every %g s (%s)", self.model_path, self.interval, WATCH_ENV)
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # the watcher must outlive a bad poll (a file system error, say)
                logger.exception("Model watcher: could not check %s", self.model_path)


def watcher_for(app: Sanic, interval: float) -> Optional[ModelWatcher]:
    """A watcher for the model file the server's agent was loaded from, or None (logged why)."""
    if interval <= 0:
        logger.info("Model reloading is off (%s=0)", WATCH_ENV)
        return None
    agent: Optional[Agent] = getattr(app.ctx, "agent", None)
    if agent is None or agent.processor is None:
        logger.warning("Model reloading is off: the server has no model loaded")
        return None
    model_path = Path(agent.processor.model_path).resolve()
    if not model_path.is_file():
        logger.warning("Model reloading is off: %s is not a model file (a directory of models is not watched)",
                       model_path)
        return None
    return ModelWatcher(app, model_path, interval)


def freeze_loaded_objects() -> None:
    """Keep the loaded model out of the garbage collector's full collections (gc.freeze).

    A model is millions of long-lived objects (the domain, spaCy's vocabulary, the
    classifiers); every full collection walked all of them while messages waited.
    """
    gc.unfreeze()  # after a reload, the previous model's objects become collectable again
    gc.collect()
    gc.freeze()


def watch_model_file(blueprint: Blueprint) -> None:
    """Run a ModelWatcher while the server runs (started after Rasa has loaded its model)."""

    @blueprint.listener("after_server_start")
    async def start_model_watcher(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        # the root logger shows warnings only: log at the level `rasa run` gives Rasa's own logs
        logger.setLevel(logging.getLogger("rasa").getEffectiveLevel())
        freeze_loaded_objects()
        watcher = watcher_for(app, watch_interval())
        if watcher is not None:
            app.ctx.model_watcher_task = asyncio.create_task(watcher.run(), name="model-watcher")

    @blueprint.listener("before_server_stop")
    async def stop_model_watcher(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
        task: Optional[asyncio.Task] = getattr(app.ctx, "model_watcher_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
