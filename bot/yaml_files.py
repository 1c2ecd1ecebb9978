"""The project's YAML files read with line numbers: NLU training examples and domain responses.

The runtime reads the FAQ answers through these (bot/faq.py); the content checks
(bot/content/check.py) read everything through them and report problems as file:line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

ENTITY = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\{[^}]*\}")


@dataclass(frozen=True)
class Where:
    path: Path
    line: int  # 1-based; 0 when the whole file is meant

    def show(self, root: Path) -> str:
        try:
            name = self.path.relative_to(root)
        except ValueError:
            name = self.path
        return f"{name}:{self.line}" if self.line else str(name)


@dataclass(frozen=True)
class Problem:
    level: str  # "error" or "warning"
    where: Where
    message: str
    fix: str
    also: Optional[Where] = None  # the other place, for a problem between two places

    def show(self, root: Path) -> str:
        also = f" (and {self.also.show(root)})" if self.also else ""
        return f"{self.where.show(root)}: {self.level}: {self.message}{also}\n    -> {self.fix}"


def error(where: Where, message: str, fix: str, also: Optional[Where] = None) -> Problem:
    return Problem("error", where, message, fix, also)


def warning(where: Where, message: str, fix: str, also: Optional[Where] = None) -> Problem:
    return Problem("warning", where, message, fix, also)


@dataclass(frozen=True)
class Example:
    intent: str
    text: str
    where: Where


@dataclass(frozen=True)
class Response:
    name: str
    text: str
    custom: Dict[str, Any]
    metadata: Dict[str, Any]
    where: Where
    variant: Dict[str, Any]  # the whole response variant as written


@dataclass(frozen=True)
class Labelled:
    text: str
    tier: str
    where: Where


class ContentError(Exception):
    """A file cannot be read at all; carries the problem to print."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


# -- reading, with line numbers --------------------------------------------------------------
def _read_yaml(path: Path) -> Tuple[Any, Optional[yaml.Node]]:
    """The file's data and its node tree (for line numbers). Broken YAML is a ContentError."""
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        reason = getattr(exc, "problem", None) or str(exc)
        raise ContentError(error(Where(path, line), f"not valid YAML: {reason}",
                                 "fix the indentation or quoting at this line (a text with ': ' needs quotes)"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(error(Where(path, 0), f"cannot read the file: {exc}", "check that it is a UTF-8 text file"))


def _read_mapping(path: Path, key: str) -> Tuple[Dict[str, Any], Optional[yaml.Node]]:
    """A YAML file whose top level is a mapping (holding ``key``): its data and node tree."""
    data, root = _read_yaml(path)
    if data is None:
        return {}, root
    if not isinstance(data, dict):
        raise ContentError(error(Where(path, 1),
                                 f"expected '{key}:' at the top of the file, not a {type(data).__name__}",
                                 "compare the file with its neighbours: it starts with  version: \"3.1\"  and  "
                                 f"{key}:"))
    return data, root


def _get(node: Optional[yaml.Node], key: str) -> Optional[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if key_node.value == key:
                return value
    return None


def _line(node: Optional[yaml.Node]) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def plain_example(text: str) -> str:
    """An NLU example without entity markup: "[klonopin](drug)" -> "klonopin"."""
    return ENTITY.sub(lambda m: m.group(1) or m.group(2), text).strip()


def read_examples(nlu_dir: Path) -> List[Example]:
    examples: List[Example] = []
    for path in sorted(nlu_dir.glob("*.yml")):
        data, root = _read_mapping(path, "nlu")
        items = data.get("nlu") or []
        nodes = _get(root, "nlu")
        for item, node in zip(items, nodes.value if nodes is not None else []):
            if not isinstance(item, dict) or "intent" not in item:
                continue  # synonyms, regexes and lookups are not examples
            block = _get(node, "examples")
            # a `|` block starts on the line after its key; each "- text" line is one example
            first = _line(block) + (1 if block is not None and block.style == "|" else 0)
            for offset, raw in enumerate(str(item.get("examples") or "").splitlines()):
                if raw.strip().startswith("- "):
                    examples.append(Example(str(item["intent"]), plain_example(raw.strip()[2:]),
                                            Where(path, first + offset)))
    return examples


def read_responses(domain_dir: Path) -> List[Response]:
    responses: List[Response] = []
    for path in sorted(domain_dir.glob("*.yml")):
        data, root = _read_mapping(path, "responses")
        section, nodes = data.get("responses") or {}, _get(root, "responses")
        for key_node, value_node in (nodes.value if nodes is not None else []):
            variants = section.get(key_node.value) or []
            for variant, node in zip(variants, value_node.value if isinstance(value_node, yaml.SequenceNode) else []):
                variant = variant if isinstance(variant, dict) else {}
                responses.append(Response(key_node.value, str(variant.get("text") or ""), variant.get("custom") or {},
                                          variant.get("metadata") or {}, Where(path, _line(node)), variant))
    return responses
