"""The benchmark's own arithmetic and its content edit (its figures are printed, not asserted)."""
import yaml

from bot import PROJECT_ROOT
from bot.bench import edited_domain, percentiles, ratio


def test_percentiles_in_milliseconds():
    figures = percentiles([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert figures == {"n": 100, "p50": 51.0, "p95": 96.0, "p99": 100.0}
    assert percentiles([])["p95"] is None


def test_ratio_is_left_blank_without_both_figures():
    assert ratio(60, 20) == "3.0x" and ratio(None, 20) == "-" and ratio(5, 0) == "-"


def test_the_content_edit_changes_exactly_one_answer(tmp_path):
    def answers(domain):
        return yaml.safe_load((domain / "faq.yml").read_text())["responses"]

    before, after = answers(PROJECT_ROOT / "domain"), answers(edited_domain(tmp_path / "domain"))
    changed = [name for name in before if before[name] != after[name]]
    assert len(changed) == 1 and changed[0].startswith("utter_faq/")
