"""`rasa data validate --fail-on-warnings`, with the two warnings it cannot avoid checked instead.

Rasa's validator warns about every response that no story or rule names. Responses
sent by a form (``utter_ask_<slot>``) or by a custom action
(``dispatcher.utter_message(response="utter_x")``) are never named there, so the
plain command cannot pass for an assistant with a form. This runs the same checks
as `rasa data validate --fail-on-warnings` and fails on every warning except:

* "utterance X is not used in any story or rule", where X *is* used: it asks for a
  slot of a form, or an action in ``actions/`` sends it;
* the duplicate of the retrieval intent ``faq``, which Rasa derives from the
  ``utter_faq/*`` responses and which the domain must also declare;
* "intent X is not found in the NLU training data" for the intents only the crisis screen
  sets (``crisis_check``): it is decided, never learned.

It also fails when an action sends a response that the domain does not define.
"""
from __future__ import annotations

import ast
import re
import sys
import warnings
from pathlib import Path
from typing import List, Set

from bot import PROJECT_ROOT
from bot.ops.train import RASA_DATA

UNUSED = re.compile(r"The utterance '([^']+)' is not used in any story or rule")
DUPLICATE_FAQ = "The following duplicated intents have been found across multiple domain files: faq"
# intents only the crisis screen sets (bot/crisis/decide.py), never learned from examples
SCREEN_INTENTS = {"crisis_check"}
NO_EXAMPLES = re.compile(r"The intent '([^']+)' is listed in the domain file, "
                         r"but is not found in the NLU training data")
# responses Rasa's own default actions send (action_default_fallback), and the one the web chat
# channel sends itself when the conversation's database is down (bot/channels/webchat.py)
DEFAULT_ACTION_RESPONSES = {"utter_default", "utter_technical_problem"}


def responses_sent_by_actions(actions_dir: Path = PROJECT_ROOT / "actions") -> Set[str]:
    """Every response name given as `response=...` in a call in actions/ (comments do not count)."""
    names: Set[str] = set()
    for path in actions_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for keyword in getattr(node, "keywords", []) if isinstance(node, ast.Call) else []:
                if keyword.arg == "response":
                    names.update(c.value for c in ast.walk(keyword.value)
                                 if isinstance(c, ast.Constant) and isinstance(c.value, str))
    return names


def main() -> int:
    from rasa.cli.utils import _validate_domain, _validate_story_structure
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.utils.common import EXPECTED_WARNINGS
    from rasa.validator import Validator

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        importer = TrainingDataImporter.load_from_config(
            str(PROJECT_ROOT / "config.yml"),
            str(PROJECT_ROOT / "domain"),
            [str(PROJECT_ROOT / p) for p in RASA_DATA],
        )
        validator = Validator.from_importer(importer)
        domain = importer.get_domain()
        results = {
            "domain": _validate_domain(validator),
            "intents": validator.verify_intents_in_stories(False),
            "examples": validator.verify_example_repetition_in_intents(False),
            # judged below from its warnings: some unused-response warnings are expected
            "responses": validator.verify_utterances_in_stories(True),
            "stories": _validate_story_structure(validator, None, fail_on_warnings=True),
        }

    sent = responses_sent_by_actions()
    form_asks = {f"utter_ask_{slot}" for form in domain.forms.values() for slot in form.get("required_slots", [])}
    problems: List[str] = [
        f"an action sends the response '{name}', which the domain does not define"
        for name in sorted(sent - set(domain.responses))
    ]
    for warning in caught:
        if not issubclass(warning.category, UserWarning):
            continue  # library deprecation notices
        text = str(warning.message).strip()
        if any(issubclass(warning.category, kind) and re.match(pattern, text) for kind, pattern in EXPECTED_WARNINGS):
            continue  # warnings Rasa itself filters out as expected
        no_examples = NO_EXAMPLES.search(text)
        if no_examples and no_examples.group(1) in SCREEN_INTENTS:
            continue
        unused = UNUSED.search(text)
        if unused and unused.group(1) in sent | form_asks | DEFAULT_ACTION_RESPONSES:
            continue
        if unused:
            problems.append(f"the response '{unused.group(1)}' is not used by any story, rule, form or action")
        else:
            problems.extend(line.strip() for line in text.splitlines() if line.strip() != DUPLICATE_FAQ)

    failed = [name for name, ok in results.items() if not ok]
    for problem in problems:
        print(f"validation: {problem}", file=sys.stderr)
    if failed:
        print(f"validation failed: {', '.join(failed)}", file=sys.stderr)
    if problems or failed:
        return 1
    print(f"Project data valid ({len(form_asks)} form prompts and {len(sent)} action responses checked).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
