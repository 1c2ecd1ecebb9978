"""Create, disable and re-enable staff accounts for the console.

    python -m bot.console.users add dana --name Dana [--role supervisor]   (asks for the password)
    python -m bot.console.users disable dana
    python -m bot.console.users enable dana
    python -m bot.console.users password dana
    python -m bot.console.users list

The password is read from the terminal, or from HELPLINE_NEW_PASSWORD when set (scripts).
Accounts live in the handoff database (HELPLINE_DATABASE_URL).
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from bot.console.auth import ROLES, Accounts
from bot.handoff.store import HandoffStore
from bot.config import Settings


def _password() -> str:
    given = os.environ.get("HELPLINE_NEW_PASSWORD")
    if given:
        return given
    first = getpass.getpass("Password (10 characters or more): ")
    if first != getpass.getpass("Password again: "):
        raise ValueError("the two passwords differ")
    return first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.console.users", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="first name shown to visitors")
    add.add_argument("--role", choices=ROLES, default="staff")
    for name in ("disable", "enable", "password"):
        commands.add_parser(name, help=f"{name} an account").add_argument("username")
    commands.add_parser("list", help="list the accounts")
    args = parser.parse_args(argv)

    accounts = Accounts(HandoffStore(Settings.from_env().database_url))
    try:
        if args.command == "add":
            user = accounts.create(args.username, args.name, _password(), args.role)
            print(f"created {user.role} account {user.username!r} ({user.display_name})")
        elif args.command in ("disable", "enable"):
            user = accounts.set_active(args.username, args.command == "enable")
            print(f"{user.username!r} is now {'active' if user.active else 'disabled (logged out everywhere)'}")
        elif args.command == "password":
            accounts.set_password(args.username, _password())
            print(f"password changed for {args.username!r}")
        else:
            for user in accounts.store.list_staff():
                state = "active" if user.active else "disabled"
                print(f"{user.username:20} {user.display_name:15} {user.role:11} {state}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
