"""Every setting the code reads is in .env.example and in README's settings table."""
from __future__ import annotations

import re

from bot import PROJECT_ROOT

# read by tools and tests, not by the servers
NOT_SETTINGS = {"HELPLINE_NEW_PASSWORD", "HELPLINE_CHROMIUM"}
SETTING = re.compile(r"HELPLINE_[A-Z0-9_]*[A-Z0-9]")


def settings_in_code() -> set:
    names = set()
    for path in [*PROJECT_ROOT.glob("bot/**/*.py"), *PROJECT_ROOT.glob("actions/**/*.py"),
                 PROJECT_ROOT / "endpoints.yml", PROJECT_ROOT / "credentials.yml"]:
        names |= set(SETTING.findall(path.read_text(encoding="utf-8")))
    return {n for n in names if not n.startswith("HELPLINE_TEST_")} - NOT_SETTINGS


def test_the_code_reads_settings():
    assert {"HELPLINE_DATABASE_URL", "HELPLINE_REDIS_URL", "HELPLINE_SECRET_KEY"} <= settings_in_code()


def test_every_setting_is_in_env_example():
    example = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#? ?(HELPLINE_[A-Z0-9_]+)=", example, re.MULTILINE))
    assert sorted(settings_in_code() - listed) == []


def test_every_setting_is_in_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert sorted(n for n in settings_in_code() if f"`{n}`" not in readme) == []
