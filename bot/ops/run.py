"""Start the assistant: the Rasa server (port 5005) and the action server (port 5055).

    python -m bot.ops.run [--port 5005] [--actions-port 5055]

Ctrl-C (or SIGTERM) stops both. If either server exits, the other is stopped too.
Settings come from the environment (see README); the defaults need no services:
conversations and handoffs go to SQLite files under var/.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping, Sequence

from bot import PROJECT_ROOT, config
from bot.ops import rasa_cli
from bot.ops.process import stop, wait_until_up
from bot.ops.train import MODEL_PATH, rasa_env

VAR = config.VAR
API_ENV, TOKEN_ENV = config.ENABLE_API, config.API_TOKEN
MIN_TOKEN_CHARS = 16


class ApiSettingsError(ValueError):
    """HELPLINE_ENABLE_API is on without a usable HELPLINE_API_TOKEN."""


def api_arguments(env: Mapping[str, str] = os.environ) -> List[str]:
    """Rasa's HTTP API (/model, /conversations/..., /status) stays off unless
    HELPLINE_ENABLE_API=true, and then only with a token (HELPLINE_API_TOKEN)."""
    try:
        if not config.api_enabled(env):
            return []
    except config.ConfigError as exc:
        raise ApiSettingsError(str(exc)) from None
    token = config.api_token(env)
    if not token:
        raise ApiSettingsError(f"{API_ENV}=true needs {TOKEN_ENV}: the token every call to Rasa's HTTP API "
                               f"must carry (?token=...). Set it to a long random value, e.g. "
                               f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    if len(token) < MIN_TOKEN_CHARS:
        raise ApiSettingsError(f"{TOKEN_ENV} is too short: use at least {MIN_TOKEN_CHARS} random characters")
    return ["--enable-api", "--auth-token", token]


def database_problem() -> str:
    """Bring the helpline database to this release's schema once, before the servers start
    (they would each check it too); what stops it, else ""."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.storage.migrate import SchemaError, prepare
    from bot.storage.engine import DatabaseError
    from bot.storage.urls import first_line

    try:
        prepare(config.database_url())
    except SchemaError as exc:
        return str(exc)
    except (DatabaseError, SQLAlchemyError) as exc:
        return f"cannot use the helpline database (HELPLINE_DATABASE_URL): {first_line(exc)}"
    return ""


def server_env(actions_port: int) -> Dict[str, str]:
    env = rasa_env()
    defaults = {
        config.ACTION_ENDPOINT: config.action_endpoint(actions_port, {}),
        config.TRACKER_URL: config.DEFAULT_TRACKER_URL,
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "SANIC_HOST": config.bind(env),  # the action server's address (rasa_sdk reads it)
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    return env


def commands(port: int, actions_port: int, model: Path, credentials: str = "credentials.yml",
             endpoints: str = "endpoints.yml", api: Sequence[str] = (),
             rasa: Sequence[str] = rasa_cli.COMMAND, host: str = "127.0.0.1") -> List[List[str]]:
    """The action server's command, then the Rasa server's (``api``: see api_arguments;
    ``rasa``: how Rasa's command line is started; ``host``: the address both bind to; the action
    server takes it from SANIC_HOST, see environment())."""
    return [
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(actions_port)],
        [*rasa, "run", "--model", str(model), "--port", str(port), "--interface", host,
         "--endpoints", str(endpoints), "--credentials", str(credentials), *api],
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    port, actions_port = config.ports()
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--actions-port", type=int, default=actions_port)
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)

    if not args.model.exists():
        print(f"error: no trained model at {args.model}; run `make train` first", file=sys.stderr)
        return 2
    try:
        args.api = api_arguments()
    except ApiSettingsError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    VAR.mkdir(exist_ok=True)
    problem = database_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    env = server_env(args.actions_port)
    processes: List[subprocess.Popen] = []
    stopping = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        return _serve(args, env, processes, lambda: stopping)
    finally:
        print("Stopping...", flush=True)
        stop(processes)
        print("Stopped.", flush=True)


def _serve(args, env, processes: List[subprocess.Popen], stopping) -> int:
    for command in commands(args.port, args.actions_port, args.model, api=args.api, host=config.bind(env)):
        # own process group: Ctrl-C reaches only this supervisor, which stops the servers
        processes.append(subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True))

    print("Starting the action server and the Rasa server (about 30 s)...", flush=True)
    up = wait_until_up(f"http://127.0.0.1:{args.actions_port}/health", processes, 120, stopping) and \
        wait_until_up(f"http://127.0.0.1:{args.port}/", processes, 300, stopping)
    if stopping():
        return 0
    if up:
        print(
            f"\nHelpline Assistant is running.\n"
            f"  REST:      POST http://localhost:{args.port}/webhooks/rest/webhook  "
            f"{{\"sender\": \"me\", \"message\": \"hi\"}}\n"
            f"  Chat demo: http://localhost:{args.port}/demo  (widget: /widget/widget.js)\n"
            f"  Console:   http://localhost:{args.port}/console  "
            f"(accounts: python -m bot.console.users add NAME --name FIRST)\n"
            f"  Socket.IO: http://localhost:{args.port}/socket.io (events user_uttered / bot_uttered)\n"
            f"  Actions:   http://localhost:{args.actions_port}/health\n"
            f"Press Ctrl-C to stop.",
            flush=True,
        )
    else:
        print("error: a server did not start (see the messages above)", file=sys.stderr)
        return 1
    while not stopping():
        exited = [p for p in processes if p.poll() is not None]
        if exited:
            print(f"error: a server exited with code {exited[0].returncode}; stopping the other", file=sys.stderr)
            return 1
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
