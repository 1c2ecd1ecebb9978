"""The layout's one rule: the runtime never imports the tools (bot/content/, bot/ops/).

The tools may import the runtime. Read from the code (every import, also those inside
functions), so a new module is held to it without being listed here.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Tuple

from bot import PROJECT_ROOT

TOOLS = ("bot.content", "bot.ops")
RUNTIME = [PROJECT_ROOT / "actions", *(path for path in sorted((PROJECT_ROOT / "bot").iterdir())
                                       if path.name not in ("content", "ops", "web", "__pycache__"))]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[Tuple[int, str]]:
    """(line, module) of every import in the file, relative ones resolved."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            yield node.lineno, base
            for alias in node.names:  # from bot import ops
                yield node.lineno, f"{base}.{alias.name}"


def runtime_files():
    for root in RUNTIME:
        yield from ([root] if root.suffix == ".py" else sorted(root.rglob("*.py")))


def is_tool(module: str) -> bool:
    return any(module == tool or module.startswith(tool + ".") for tool in TOOLS)


def test_the_runtime_never_imports_the_tools():
    found = [f"{path.relative_to(PROJECT_ROOT)}:{line}: {module}"
             for path in runtime_files() for line, module in imports(path) if is_tool(module)]
    assert found == [], "move what the runtime needs out of bot/content or bot/ops"


def test_the_check_sees_an_import_of_a_tool(tmp_path):
    sample = PROJECT_ROOT / "bot" / "channels" / "_layout_sample.py"
    sample.write_text("def f():\n    from bot.ops.run import commands\n    from bot import content\n")
    try:
        assert {module for _, module in imports(sample) if is_tool(module)} >= {"bot.ops.run", "bot.content"}
        assert sample in list(runtime_files())
    finally:
        sample.unlink()


def test_tests_mirror_the_tree():
    """Each test folder is named after a package of bot/ (or actions, e2e, conversations)."""
    packages = {path.name for path in (PROJECT_ROOT / "bot").iterdir() if (path / "__init__.py").exists()}
    folders = {path.name for path in (PROJECT_ROOT / "tests").iterdir()
               if path.is_dir() and path.name != "__pycache__"}
    assert folders - packages <= {"actions", "e2e", "conversations"}
    loose = sorted(path.name for path in (PROJECT_ROOT / "tests").glob("test_*.py"))
    top = {path.stem for path in (PROJECT_ROOT / "bot").glob("*.py")}
    assert [name for name in loose if name[len("test_"):-len(".py")] not in top | {"layout"}] == []
