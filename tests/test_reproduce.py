"""The reproduction harness: plans, skipping finished runs, orderings, the report."""
import json
import os

import pytest

from lotr_gluon.reproduce.plan import Cell, make_plan
from lotr_gluon.reproduce.report import orderings, write_report
from lotr_gluon.reproduce.runner import execute, status


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    from lotr_gluon.data.synthetic import write_synthetic_dataset

    root = str(tmp_path_factory.mktemp("synth"))
    write_synthetic_dataset(root, 30, seed=2, workers=1, progress=False)
    return root


def test_plan_all_covers_every_cell_once_per_run(tiny_root, tmp_path):
    runs = make_plan(["table2", "table3", "table4", "layers"], tiny_root, str(tmp_path))
    # 9 Table-3 models + 4 non-default losses x 3 + 5 non-default depths x 3 = 36 runs.
    assert len(runs) == 36 and len({r.run_dir for r in runs}) == 36
    base = next(r for r in runs if r.name == "lotr_m")
    tables = {c.table for c in base.cells}
    assert tables == {"table2", "table3", "table4", "figure3"}  # one run, four tables
    assert Cell("figure3", "lotr_m", "2") in base.cells
    assert Cell("table4", "lotr_m", "smooth_wing") in base.cells
    l1 = next(r for r in runs if r.name == "lotr_m_l1")
    assert l1.load().loss.name == "l1" and l1.load().data.root == os.path.abspath(tiny_root)


def test_mini_budget_shrinks_and_keeps_mobilenet_models(tiny_root, tmp_path):
    runs = make_plan(["table4"], tiny_root, str(tmp_path), budget="mini")
    assert sorted(r.name for r in runs) == ["lotr_m", "lotr_m_l1", "lotr_m_l2",
                                            "lotr_m_smooth_l1", "lotr_m_wing"]
    cfg = runs[0].load()
    assert cfg.model.options["input_size"] == 128 and cfg.train.optimizer == "adam"
    assert all(r.run_dir.startswith(os.path.join(str(tmp_path), "mini")) for r in runs)


def test_a_finished_run_is_never_retrained(tiny_root, tmp_path):
    runs = make_plan(["table4"], tiny_root, str(tmp_path), budget="mini")
    metrics = {"no_flip": {"auc": 0.5, "failure_rate": 0.1, "nme": 0.03},
               "flip": {"auc": 0.6, "failure_rate": 0.05, "nme": 0.02}}
    for run in runs:
        os.makedirs(os.path.join(run.run_dir, "test"))
        with open(os.path.join(run.run_dir, "test", "metrics.json"), "w") as f:
            json.dump(metrics, f)
    final = execute(runs, report=lambda message: None)  # would take minutes if it trained
    assert set(final.values()) == {"done"}
    assert not any(os.path.exists(os.path.join(r.run_dir, "last.ckpt")) for r in runs)
    report = write_report(runs, ["table4"], str(tmp_path / "REPORT.md"), tiny_root, "mini")
    text = open(report).read()
    assert "| lotr_m | 60.00 (84.52)" in text  # ours (paper) for l2
    assert "Toy scale" in text


def test_orderings_worked_example():
    paper = {"l2": 84.52, "l1": 86.90, "wing": 86.92}
    ours = {"l2": 50.0, "l1": 60.0, "wing": 55.0}
    pairs = {(a, b): holds for a, b, _, holds in orderings(paper, ours)}
    assert pairs == {("l1", "l2"): True, ("wing", "l2"): True, ("wing", "l1"): False}


def test_statuses(tiny_root, tmp_path):
    run = make_plan(["table2"], tiny_root, str(tmp_path), budget="mini")[0]
    assert status(run) == "new"
    os.makedirs(run.run_dir)
    open(os.path.join(run.run_dir, "last.ckpt"), "w").close()
    assert status(run) == "partial"
    open(os.path.join(run.run_dir, "diverged.json"), "w").write("{}")
    assert status(run) == "diverged"
