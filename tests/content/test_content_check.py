"""make content-check: the project's content passes, and every check fails when its rule is broken.

Each failure test copies the content into a temporary folder, breaks one thing and expects
the problem at the right file and line, with a fix to apply.
"""
import datetime as dt
import re
import shutil

import pytest

from bot import PROJECT_ROOT
from bot.content.check import (
    Project, check_answers, check_crisis, check_examples, check_safe_messaging, check_topics, main,
    read_examples, read_labelled, read_responses, rule_lines, run_checks,
)

TODAY = dt.date(2026, 12, 3)  # the day of the latest answer reviews
# the end of the naloxone answer in domain/faq.yml, as written there
NALOXONE_SOURCE = ("\\n\\nSource: FDA news release, 29 March 2023, FDA approves first over-the-counter naloxone "
                   "nasal spray; Narcan (naloxone) nasal spray Drug Facts label; FDA Drug Safety Communication, "
                   "23 Sept 2020.\"")


@pytest.fixture
def project(tmp_path):
    for folder in ("data", "domain"):
        shutil.copytree(PROJECT_ROOT / folder, tmp_path / folder)
    (tmp_path / "tests" / "crisis").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "tests" / "crisis" / "labelled.yml", tmp_path / "tests" / "crisis")
    return Project(tmp_path)


def edit(path, old, new, count=1):
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def only(problems, pattern, level="error"):
    found = [p for p in problems if re.search(pattern, p.message)]
    assert found, f"no problem matching {pattern!r} in {[p.message for p in problems]}"
    assert all(p.level == level for p in found)
    assert all(p.fix for p in found)
    return found


def line_of(path, needle):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_the_project_content_has_no_errors():
    problems = run_checks(Project(), TODAY)
    for problem in problems:
        print(problem.show(PROJECT_ROOT))
    assert [p for p in problems if p.level == "error"] == []


def test_every_reported_line_holds_what_it_names():
    project = Project()
    examples = read_examples(project.nlu_dir)
    assert len(examples) > 2000
    for example in examples:
        assert example.text in example.where.path.read_text().splitlines()[example.where.line - 1]
    for response in read_responses(project.domain_dir):
        lines = response.where.path.read_text().splitlines()[response.where.line - 1:]
        start = re.split(r"[\n\"'\\]", response.text)[0][:30]
        if lines[0].strip() == "- condition:":  # a conditional variation: its text follows the condition
            lines = [line for line in lines[1:] if line.strip().startswith("text:")]
        else:
            assert lines[0].lstrip().startswith("- "), (response.name, lines[0][:60])
        assert "text:" in lines[0] and start in lines[0], (response.name, lines[0][:60])
    for item in read_labelled(project.labelled):
        assert item.text in project.labelled.read_text().splitlines()[item.where.line - 1]
    for rule, line in rule_lines(project.patterns).items():
        assert f"id: {rule}" in project.patterns.read_text().splitlines()[line - 1]


def test_too_few_examples(project):
    path = project.nlu_dir / "faq_medication.yml"
    text = path.read_text()
    block = text.split("- intent: faq/naloxone\n  examples: |\n")[1].split("\n- intent:")[0]
    kept = "\n".join(block.splitlines()[:5])
    path.write_text(text.replace(block, kept))
    [problem] = only(check_examples(read_examples(project.nlu_dir), project.read_policy()["examples"]),
                     r"'faq/naloxone' has 5 different examples, fewer than 25")
    assert problem.where.path == path and problem.where.line == line_of(path, "- intent: faq/naloxone") + 2


def test_near_copies_do_not_count_as_different_examples(project):
    path = project.nlu_dir / "faq_medication.yml"
    text = path.read_text()
    block = text.split("- intent: faq/naloxone\n  examples: |\n")[1].split("\n- intent:")[0]
    copies = "\n".join(f"    - does narcan work on klonopin overdose{'?' * i}" if i % 2 else
                       f"    - does narcan work on a klonopin overdose {i}" for i in range(14))
    path.write_text(text.replace(block, copies))
    only(check_examples(read_examples(project.nlu_dir), project.read_policy()["examples"]),
         r"'faq/naloxone' has \d+ different examples, fewer than 25 \(\d+ more are nearly copies")


def test_the_same_example_under_two_intents_names_both_places(project):
    path = project.nlu_dir / "faq_medication.yml"
    edit(path, "- intent: faq/naloxone\n  examples: |\n", "- intent: faq/naloxone\n  examples: |\n    - what is klonopin\n")
    [problem] = only(check_examples(read_examples(project.nlu_dir), project.read_policy()["examples"]),
                     r"the same example under 'faq/(naloxone|what_is)' and 'faq/(naloxone|what_is)'")
    places = {(problem.where.path, problem.where.line), (problem.also.path, problem.also.line)}
    assert (path, line_of(path, "- intent: faq/naloxone") + 2) in places
    assert (path, line_of(path, "    - what is klonopin")) in places
    assert "(and data/nlu/faq_medication.yml:" in problem.show(project.root)


def test_nearly_the_same_example_under_two_intents_is_a_warning(project):
    edit(project.nlu_dir / "faq_medication.yml", "- intent: faq/naloxone\n  examples: |\n",
         "- intent: faq/naloxone\n  examples: |\n    - what is klonopinn\n")
    only(check_examples(read_examples(project.nlu_dir), project.read_policy()["examples"]),
         r"nearly the same example", level="warning")


def test_an_example_twice_under_one_intent(project):
    edit(project.nlu_dir / "faq_medication.yml", "- intent: faq/naloxone\n  examples: |\n",
         "- intent: faq/naloxone\n  examples: |\n    - Does Narcan work on benzos\n    - does narcan work on benzos?\n")
    only(check_examples(read_examples(project.nlu_dir), project.read_policy()["examples"]),
         r"'faq/naloxone' has this example twice")


def test_topic_without_answer_and_answer_without_topic(project):
    edit(project.nlu_dir / "faq_medication.yml", "- intent: faq/naloxone\n", "- intent: faq/narcan\n")
    problems = check_topics(read_examples(project.nlu_dir), read_responses(project.domain_dir), project.domain_dir)
    only(problems, r"FAQ topic 'narcan' has examples but no answer")
    only(problems, r"'utter_faq/naloxone' has no examples")


def answers(project, today=TODAY):
    policy = project.read_policy()
    return check_answers(read_responses(project.domain_dir), policy["answers"], policy["forbidden_claims"], today)


def test_answer_without_source_line(project):
    edit(project.domain_dir / "faq.yml", NALOXONE_SOURCE, "\"")
    [problem] = only(answers(project), r"'utter_faq/naloxone' has no Source line")
    assert problem.where.line == line_of(project.domain_dir / "faq.yml", "utter_faq/naloxone:") + 1


@pytest.mark.parametrize("metadata, pattern, level", [
    ("", r"has no review date", "error"),
    ('    metadata: {reviewed: 2026-11-22}\n', r"not a quoted YYYY-MM-DD date", "error"),
    ('    metadata: {reviewed: "22/11/2026"}\n', r"not a quoted YYYY-MM-DD date", "error"),
    ('    metadata: {reviewed: "2027-01-01"}\n', r"reviewed in the future", "error"),
    ('    metadata: {reviewed: "2025-11-01"}\n', r"last reviewed on 2025-11-01, over 365 days ago", "warning"),
])
def test_review_dates(project, metadata, pattern, level):
    path = project.domain_dir / "faq.yml"
    text = path.read_text()
    start = text.index("  utter_faq/naloxone:")
    original = '    metadata: {reviewed: "2026-12-03"}\n'
    at = text.index(original, start)
    path.write_text(text[:at] + metadata + text[at + len(original):])
    [problem] = only([p for p in answers(project) if "naloxone" in p.message], pattern, level)


def test_hard_to_read_answer_is_a_warning(project):
    edit(project.domain_dir / "faq.yml", "Naloxone (Narcan) reverses opioid overdoses, but not",
         "Pharmacological antagonism by naloxone hydrochloride characteristically reverses opioid-induced respiratory "
         "depression, notwithstanding its documented inefficacy regarding benzodiazepine-mediated sedation, but not")
    only(answers(project), r"'utter_faq/naloxone' reads at school grade \d+\.\d, above 10", level="warning")


def test_too_many_sentences_no_place_to_turn_and_a_seed_claim(project):
    path = project.domain_dir / "faq.yml"
    text = path.read_text()
    start = text.index("  utter_faq/naloxone:\n  - text: \"") + len("  utter_faq/naloxone:\n  - text: \"")
    end = text.index("\\n\\nSource:", start)
    path.write_text(text[:start] + "One. Two. Three. Four. Five. Six. Long-term use causes brain damage." + text[end:])
    problems = answers(project)
    only(problems, r"'utter_faq/naloxone' has 7 sentences, not 2 to 5")
    only(problems, r"'utter_faq/naloxone' does not tell the visitor where to turn")
    only(problems, r"'utter_faq/naloxone' repeats a claim from the seed pages: 'brain damage'")


def safe(project):
    return check_safe_messaging(read_responses(project.domain_dir))


def test_a_reply_about_suicide_must_name_988(project):
    edit(project.domain_dir / "faq.yml", "Naloxone (Narcan) reverses opioid overdoses",
         "Some overdoses are suicide attempts. Naloxone (Narcan) reverses opioid overdoses")
    only(safe(project), r"'utter_faq/naloxone' talks about suicide or self-harm without naming 988")


def test_no_method_and_no_amount_next_to_a_lethal_outcome(project):
    edit(project.domain_dir / "faq.yml", "Naloxone (Narcan) reverses opioid overdoses",
         "A dose of 60 mg can be lethal. Some people use a firearm. Naloxone (Narcan) reverses opioid overdoses")
    problems = safe(project)
    only(problems, r"puts an amount next to a lethal outcome: \"A dose of 60 mg can be lethal.\"")
    only(problems, r"names a means of self-harm: 'firearm'")


@pytest.mark.parametrize("old, new, pattern", [
    ("    custom:\n      escalation:\n        tier: suicide\n        lang: en\n        lines:\n        - {name: \"988 Suicide & Crisis Lifeline\"",
     "    custom:\n      other:\n        tier: suicide\n        lang: en\n        lines:\n        - {name: \"988 Suicide & Crisis Lifeline\"",
     r"crisis reply 'utter_crisis_suicide' has no escalation payload"),
    ("        tier: suicide\n        lang: en\n        lines:\n        - {name: \"988 Suicide & Crisis Lifeline\", phone: \"988\"",
     "        tier: suicide\n        lang: en\n        lines:\n        - {name: \"988 Suicide & Crisis Lifeline\", phone: \"9888\"",
     r"crisis reply 'utter_crisis_suicide' must list 988 first"),
    ("        tier: suicide\n        lang: en\n        lines:\n        - {name: \"988",
     "        tier: medical\n        lang: en\n        lines:\n        - {name: \"988",
     r"crisis reply 'utter_crisis_suicide' has the tier 'medical'"),
    ("- {name: \"Crisis Text Line (text HOME)\", phone: null, sms: \"741741\", url: \"https://www.crisistextline.org\"}",
     "- {name: \"Crisis Text Line (text HOME)\", phone: null, sms: null, url: null}",
     r"crisis reply 'utter_crisis_suicide' has a line the widget cannot show"),
])
def test_crisis_replies_carry_the_escalation_payload(project, old, new, pattern):
    edit(project.domain_dir / "crisis.yml", old, new)
    [problem] = only(safe(project), pattern)
    assert problem.where.line == line_of(project.domain_dir / "crisis.yml", "utter_crisis_suicide:") + 1


def test_only_crisis_replies_escalate(project):
    edit(project.domain_dir / "faq.yml", '    metadata: {reviewed: "2026-11-22"}\n',
         '    metadata: {reviewed: "2026-11-22"}\n    custom: {escalation: {tier: suicide, lines: []}}\n')
    only(safe(project), r"'utter_faq/what_is' carries an escalation payload but is not a crisis reply")


def crisis(project):
    return check_crisis(read_labelled(project.labelled), rule_lines(project.patterns), project.patterns,
                        project.read_policy()["crisis"])


def test_a_missed_crisis_message_and_a_false_alarm_fail(project):
    with project.labelled.open("a") as f:
        f.write('- {text: "the kitchen light is broken again", tier: suicide}\n')
        f.write('- {text: "my friend is not breathing", tier: none}\n')
    problems = crisis(project)
    [missed] = only(problems, r"missed crisis \(suicide\): \"the kitchen light is broken again\"")
    assert missed.where.line == line_of(project.labelled, "the kitchen light")
    only(problems, r"false alarm: \"my friend is not breathing\" escalates as emergency")


def test_every_crisis_rule_needs_labelled_messages_it_catches(project):
    edit(project.patterns, "rules:\n", "rules:\n  - id: brand_new_rule\n    tier: suicide\n    strength: strong\n"
                                       "    phrases: [zyzzyva quux]\n\n")
    [problem] = only(crisis(project), r"crisis rule 'brand_new_rule' catches 0 labelled message\(s\), fewer than 2")
    assert problem.where.line == line_of(project.patterns, "id: brand_new_rule")


def test_a_broken_patterns_file_is_one_clear_error(project):
    edit(project.patterns, "    strength: strong\n", "    strength: sometimes\n")
    only(crisis(project), r"strength must be one of")


def test_broken_yaml_points_at_the_line(project):
    path = project.nlu_dir / "core.yml"
    lines = path.read_text().splitlines()
    lines[5] = "  examples: | : ["
    path.write_text("\n".join(lines) + "\n")
    [problem] = run_checks(project, TODAY)
    assert problem.where.path == path and 5 <= problem.where.line <= 8
    assert "not valid YAML" in problem.message


def test_command_exit_codes(project, capsys):
    assert main(["--root", str(project.root)]) == 0
    assert main(["--root", str(project.root), "--strict"]) == (1 if "warning:" in capsys.readouterr().out else 0)
    edit(project.domain_dir / "faq.yml", NALOXONE_SOURCE, "\"")
    assert main(["--root", str(project.root)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"domain/faq\.yml:\d+: error: 'utter_faq/naloxone' has no Source line\n    -> ", out)
    assert "1 error(s)" in out


def test_the_not_safe_reply_must_escalate_as_suicide(project):
    path = project.domain_dir / "crisis.yml"
    text = path.read_text()
    start = text.index("  utter_crisis_not_safe:")
    at = text.index("      escalation:", start)
    path.write_text(text[:at] + "      escalated:" + text[at + len("      escalation:"):])
    only(safe(project), r"crisis reply 'utter_crisis_not_safe' has no escalation payload")


def test_an_escalation_key_anywhere_else_is_an_error(project):
    edit(project.domain_dir / "faq.yml", '    metadata: {reviewed: "2026-11-22"}\n',
         '    metadata: {reviewed: "2026-11-22", escalation: {tier: suicide}}\n')
    only(safe(project), r"'utter_faq/what_is' has an 'escalation' key outside custom.escalation")


@pytest.mark.parametrize("old, new", [
    ("  min_per_intent: 25\n", ""),
    ("forbidden_claims:", "claims_we_forbid:"),
])
def test_missing_settings_are_one_clear_error(project, old, new):
    edit(project.policy, old, new)
    [problem] = run_checks(project, TODAY)
    assert problem.where.path == project.policy and "missing settings" in problem.message


def test_the_seed_pages_wrong_claims_stay_forbidden():
    patterns = {claim["pattern"] for claim in Project().read_policy()["forbidden_claims"]}
    assert {"birth defects", "1,219", "7,161", "four hours", "intermediate-acting", "1975", "brain damage",
            "organ failure", "heart failure", "no more than (two|four) weeks", "less than two weeks"} <= patterns


@pytest.mark.parametrize("relative, text, pattern", [
    ("data/nlu/core.yml", "- just a list\n- of lines\n", r"expected 'nlu:' at the top of the file"),
    ("tests/crisis/labelled.yml", "items:\n- just a string\n", r"not a labelled message: 'just a string'"),
])
def test_a_file_of_the_wrong_shape_is_one_clear_error(project, relative, text, pattern):
    (project.root / relative).write_text(text)
    [problem] = run_checks(project, TODAY)
    assert problem.where.path == project.root / relative and re.search(pattern, problem.message)
