"""Rasa's HTTP API is off unless HELPLINE_ENABLE_API=true, and then needs a token."""
from __future__ import annotations

import pytest

from bot.ops import run
from bot.ops.run import ApiSettingsError, api_arguments, commands

TOKEN = "a-long-random-token-0123456789"


@pytest.mark.parametrize("env", [{}, {"HELPLINE_ENABLE_API": "false"}, {"HELPLINE_ENABLE_API": ""},
                                 {"HELPLINE_API_TOKEN": TOKEN}])
def test_off_by_default(env):
    assert api_arguments(env) == []
    rasa = commands(5005, 5055, run.MODEL_PATH, api=api_arguments(env))[1]
    assert "--enable-api" not in rasa and "--auth-token" not in rasa


def test_on_with_a_token():
    arguments = api_arguments({"HELPLINE_ENABLE_API": "true", "HELPLINE_API_TOKEN": TOKEN})
    assert arguments == ["--enable-api", "--auth-token", TOKEN]
    assert commands(5005, 5055, run.MODEL_PATH, api=arguments)[1][-3:] == arguments


@pytest.mark.parametrize("token, words", [(None, "needs HELPLINE_API_TOKEN"), ("  ", "needs HELPLINE_API_TOKEN"),
                                          ("short", "too short")])
def test_on_without_a_usable_token_is_refused(token, words):
    env = {"HELPLINE_ENABLE_API": "true", **({"HELPLINE_API_TOKEN": token} if token is not None else {})}
    with pytest.raises(ApiSettingsError, match=words):
        api_arguments(env)


def test_the_server_refuses_to_start_without_a_token(monkeypatch, tmp_path, capsys):
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    monkeypatch.setenv("HELPLINE_ENABLE_API", "true")
    monkeypatch.delenv("HELPLINE_API_TOKEN", raising=False)
    started = []
    monkeypatch.setattr(run.subprocess, "Popen", lambda *a, **k: started.append(a))
    assert run.main(["--model", str(model)]) == 2
    assert "HELPLINE_ENABLE_API=true needs HELPLINE_API_TOKEN" in capsys.readouterr().err
    assert started == []


def test_both_servers_bind_to_this_machine_unless_told_otherwise(monkeypatch):
    from bot import config
    from bot.ops.run import server_env

    monkeypatch.delenv(config.BIND, raising=False)
    monkeypatch.delenv("SANIC_HOST", raising=False)
    actions, rasa = commands(5005, 5055, run.MODEL_PATH, host=config.bind())
    assert rasa[rasa.index("--interface") + 1] == "127.0.0.1"
    assert server_env(5055)["SANIC_HOST"] == "127.0.0.1"  # rasa_sdk binds to SANIC_HOST
    monkeypatch.setenv(config.BIND, "0.0.0.0")
    assert server_env(5055)["SANIC_HOST"] == "0.0.0.0" and config.bind() == "0.0.0.0"
