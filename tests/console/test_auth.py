"""Staff accounts: hashed passwords, lockout, the users command; signed chat session ids."""
import pytest

from bot.channels.session_ids import SessionSigner
from bot.console import users
from bot.console.auth import MAX_FAILED_LOGINS, Accounts, LoginError
from bot.handoff.store import HandoffStore

PASSWORD = "a long enough password"


@pytest.fixture
def accounts(tmp_path):
    store = HandoffStore(f"sqlite:///{tmp_path / 'helpline.db'}")
    yield Accounts(store)
    store.engine.dispose()


def test_passwords_are_stored_as_argon2_hashes(accounts):
    user = accounts.create("Dana", "Dana", PASSWORD)
    assert user.username == "dana" and user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash
    assert accounts.login("dana", PASSWORD).user.id == user.id


@pytest.mark.parametrize("username, name, password, role, message", [
    ("dana", "Dana", "short", "staff", "at least 10"),
    ("da na", "Dana", PASSWORD, "staff", "letters, digits"),
    ("dana", "Dana", PASSWORD, "admin", "role must be"),
    ("dana", " ", PASSWORD, "staff", "display name"),
])
def test_bad_account_details_are_refused_clearly(accounts, username, name, password, role, message):
    with pytest.raises(ValueError, match=message):
        accounts.create(username, name, password, role)


def test_a_duplicate_username_is_refused(accounts):
    accounts.create("dana", "Dana", PASSWORD)
    with pytest.raises(ValueError, match="already exists"):
        accounts.create("DANA", "Dana", PASSWORD)


def test_lockout_after_repeated_failures_and_the_right_password_does_not_help(accounts):
    accounts.create("dana", "Dana", PASSWORD)
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(LoginError) as failed:
            accounts.login("dana", "wrong")
        assert not failed.value.locked
    with pytest.raises(LoginError) as failed:
        accounts.login("dana", "wrong")
    assert failed.value.locked
    with pytest.raises(LoginError) as failed:
        accounts.login("dana", PASSWORD)
    assert failed.value.locked
    accounts.set_active("dana", True)  # an administrator can unlock
    assert accounts.login("dana", PASSWORD)


def test_unknown_and_disabled_users_get_the_same_answer(accounts):
    accounts.create("dana", "Dana", PASSWORD)
    accounts.set_active("dana", False)
    for name in ("dana", "nobody"):
        with pytest.raises(LoginError, match="wrong username or password"):
            accounts.login(name, PASSWORD)


def test_a_session_cookie_is_only_valid_as_issued(accounts):
    accounts.create("dana", "Dana", PASSWORD)
    done = accounts.login("dana", PASSWORD)
    assert accounts.session(done.token)[1].username == "dana"
    assert accounts.session(done.token + "x") is None and accounts.session(None) is None
    accounts.logout(done.token)
    assert accounts.session(done.token) is None


def test_the_users_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HELPLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")
    monkeypatch.setenv("HELPLINE_SECRET_KEY", "k")
    monkeypatch.setenv("HELPLINE_NEW_PASSWORD", PASSWORD)
    assert users.main(["add", "dana", "--name", "Dana", "--role", "supervisor"]) == 0
    assert users.main(["add", "dana", "--name", "Dana"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert users.main(["disable", "dana"]) == 0
    assert users.main(["list"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert users.main(["disable", "nobody"]) == 2


def test_session_ids_are_signed():
    signer = SessionSigner("secret")
    token = signer.issue()
    conversation_id = signer.verify(token)
    assert conversation_id and len(conversation_id) == 32 and token.startswith(conversation_id)
    assert signer.issue() != token
    assert SessionSigner("another secret").verify(token) is None
    for forged in (conversation_id, f"{conversation_id}.{'0' * 32}", "", None, 42, "a.b.c", token + "0"):
        assert signer.verify(forged) is None
