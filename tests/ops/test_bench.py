"""The benchmark's own arithmetic and its content edit (its figures are printed, not asserted)."""
import json

import yaml

from bot import PROJECT_ROOT
from bot.ops.bench import edited_domain, percentiles, ratio


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


def test_stock_training_is_reused_only_while_its_inputs_are_unchanged(tmp_path, monkeypatch, capsys):
    from bot.ops import bench

    trainings = []
    monkeypatch.setattr(bench, "STOCK", tmp_path)
    monkeypatch.setattr(bench, "training_times", lambda *args: trainings.append(args) or
                        {"clean_s": 1.0, "one_answer_edit_s": 1.0, "model": str(model)})
    model = tmp_path / "clean.tar.gz"
    model.write_text("model")
    digests = bench.inputs_digests(bench.stock_config())

    assert bench.stock_training(retrain=False)["reused"] is False and len(trainings) == 1  # no record yet
    assert bench.stock_training(retrain=False)["reused"] is True and len(trainings) == 1

    record = tmp_path / "training.json"
    kept = yaml.safe_load(record.read_text())
    kept["inputs"]["data/nlu"] = "an older digest"
    record.write_text(json.dumps(kept))
    assert bench.stock_training(retrain=False)["reused"] is False and len(trainings) == 2
    assert "data/nlu changed since the training" in capsys.readouterr().out
    assert yaml.safe_load(record.read_text())["inputs"] == digests
