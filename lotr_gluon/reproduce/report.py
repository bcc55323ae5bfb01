"""REPORT.md: our number beside the paper's for every cell, orderings, CEDs, training curves."""
from __future__ import annotations

import datetime
import itertools
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

from ..engine.trainer import RunPaths
from ..fileio import atomic_write_text
from ..paper_results import load_paper_results
from .plan import LAYERS, LOSSES, PlannedRun
from .runner import speed_path, status, test_metrics_path

Ordering = Tuple[str, str, float, Optional[bool]]  # a, b, paper's a - b, ours agrees?


def _read_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def run_results(run: PlannedRun) -> Dict:
    """What a finished run measured: test metrics (%), size, CPU latency; {} if unfinished."""
    state = status(run)
    if state == "diverged":
        return {"diverged": True}
    if state != "done":
        return {}
    metrics = _read_json(test_metrics_path(run))
    out = {f"{key}{suffix}": metrics[mode][key] * 100
           for mode, suffix in (("no_flip", "_no_flip"), ("flip", ""))
           for key in ("auc", "failure_rate", "nme")}
    if os.path.isfile(speed_path(run)):
        rows = _read_json(speed_path(run))
        out["cpu_ms"] = [next(r["latency_ms_mean"] for r in rows if r["flip"] == flip)
                         for flip in (False, True)]
    from ..complexity import summarize
    from ..engine.builders import build_model, schema_of

    cfg = run.load()
    net = build_model(cfg, schema_of(cfg).num_points, restoring=True)  # counts, not weights
    summary = summarize(net, cfg.model.name, net.input_size)
    out["params_m"], out["size_mb"] = summary.params_m, summary.size_mb
    return out


def orderings(paper: Dict[str, Optional[float]], ours: Dict[str, Optional[float]]
              ) -> List[Ordering]:
    """Every pair the paper ranks (higher first), and whether our numbers rank it the same."""
    pairs = []
    for a, b in itertools.combinations(paper, 2):
        if paper[a] is None or paper[b] is None or paper[a] == paper[b]:
            continue
        if paper[a] < paper[b]:
            a, b = b, a
        holds = None if ours.get(a) is None or ours.get(b) is None else ours[a] > ours[b]
        pairs.append((a, b, paper[a] - paper[b], holds))
    return pairs


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value == "diverged":
        return "NaN"
    return f"{value:.{digits}f}"


def _ordering_lines(title: str, pairs: Sequence[Ordering]) -> List[str]:
    judged = [p for p in pairs if p[3] is not None]
    if not judged:
        return []
    held = sum(p[3] for p in judged)
    lines = [f"{title}: {held} of {len(judged)} of the paper's orderings hold."]
    for a, b, gap, holds in judged:
        lines.append(f"  - {a} > {b} (paper +{gap:.2f}): {'holds' if holds else 'reversed'}")
    return lines


def _table2(results: Dict[str, Dict], paper: Dict) -> List[str]:
    lines = ["## Table 2: JD-landmark test set, flip TTA (AUC, FR, NME in %)", "",
             "| model | AUC | paper | FR | paper | NME | paper |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    ours_auc = {}
    for model, ref in paper["table2"].items():
        if model not in results:
            continue
        r = results[model]
        ours_auc[model] = r.get("auc")
        lines.append(f"| {model} | {_fmt(r.get('auc'))} | {ref['auc']:.2f} | "
                     f"{_fmt(r.get('failure_rate'))} | {ref['failure_rate']:.2f} | "
                     f"{_fmt(r.get('nme'))} | {ref['nme']:.2f} |")
    pairs = orderings({m: paper["table2"][m]["auc"] for m in ours_auc}, ours_auc)
    return lines + [""] + _ordering_lines("Table 2 AUC", pairs)


def _table3(results: Dict[str, Dict], paper: Dict) -> List[str]:
    lines = ["## Table 3: AUC (no flip / flip), size, latency", "",
             "Latency: ours is batch 1 on this machine's CPU (default backend); the paper's is a "
             "V100 GPU. They are not comparable, only the ratios between rows are. Params and "
             "Size are of each model as run: a budget that changes the input size changes "
             "CNN+FFN's flattened head.", "",
             "| model | AUC | paper | AUC flip | paper | Params (M) | paper | Size (MB) | "
             "paper | CPU ms (no flip / flip) | paper V100 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ours_auc = {}
    for model, ref in paper["table3"].items():
        if model not in results:
            lines.append(f"| {model} | not run | {ref['auc'][0]:.2f} | | {ref['auc'][1]:.2f} | | "
                         f"{ref['params_m']} | | {ref['size_mb']} | | "
                         f"{ref['gpu_ms'][0][0]} / {ref['gpu_ms'][1][0]} |")
            continue
        r = results[model]
        ours_auc[model] = r.get("auc")
        ms = r.get("cpu_ms")
        lines.append(f"| {model} | {_fmt(r.get('auc_no_flip'))} | {ref['auc'][0]:.2f} | "
                     f"{_fmt(r.get('auc'))} | {ref['auc'][1]:.2f} | {_fmt(r.get('params_m'))} | "
                     f"{ref['params_m']} | {_fmt(r.get('size_mb'))} | {ref['size_mb']} | "
                     f"{'-' if not ms else f'{ms[0]:.2f} / {ms[1]:.2f}'} | "
                     f"{ref['gpu_ms'][0][0]} / {ref['gpu_ms'][1][0]} |")
    pairs = orderings({m: paper["table3"][m]["auc"][1] for m in ours_auc}, ours_auc)
    return lines + [""] + _ordering_lines("Table 3 AUC (flip)", pairs)


def _grid(title: str, table: Dict[str, Dict], results_by_cell: Dict[Tuple[str, str], Dict],
          columns: Sequence, label: str) -> List[str]:
    lines = [title, "", "| model | " + " | ".join(f"{label}{c}" for c in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    notes = []
    for model, ref in table.items():
        cells = [results_by_cell.get((model, str(c))) for c in columns]
        if not any(cells):
            continue
        ours = {}
        row = []
        for column, r in zip(columns, cells):
            paper_value = ref.get(column, ref.get(str(column)))
            ours_value = None if not r else ("diverged" if r.get("diverged") else r.get("auc"))
            ours[str(column)] = ours_value if isinstance(ours_value, float) else None
            row.append(f"{_fmt(ours_value)} ({_fmt(paper_value)})")
        lines.append(f"| {model} | " + " | ".join(row) + " |")
        paper_row = {str(c): ref.get(c, ref.get(str(c))) for c in columns}
        notes += _ordering_lines(f"{model}", orderings(paper_row, ours))
    return lines + ["", "Each cell: ours (paper), AUC with flip TTA in %."] + [""] + notes


def write_report(runs: Sequence[PlannedRun], suites: Sequence[str], out_path: str,
                 data_root: str, budget: str) -> str:
    """Write ``out_path`` (REPORT.md) from whatever runs have finished; returns its path."""
    from ..viz import plot_training_curves

    paper = load_paper_results()
    by_model: Dict[str, Dict] = {}
    by_cell: Dict[str, Dict[Tuple[str, str], Dict]] = {"table4": {}, "figure3": {}}
    report_dir = os.path.dirname(os.path.abspath(out_path))
    figures = []
    for run in runs:
        results = run_results(run)
        for cell in run.cells:
            if cell.table in by_cell:
                by_cell[cell.table][(cell.row, cell.column)] = results
            elif results:
                by_model[cell.row] = results
        log = RunPaths(run.run_dir).log
        if os.path.isfile(log) and os.path.getsize(log):
            curves = os.path.join(run.run_dir, "curves.png")
            plot_training_curves(log, curves, run.name)
            ced = os.path.join(run.run_dir, "test", "ced.png")
            figures.append((run.name, os.path.relpath(curves, report_dir),
                            os.path.relpath(ced, report_dir) if os.path.isfile(ced) else None))
    lines = [f"# Reproduction report ({budget} budget)", "",
             f"Data: `{data_root}`. Written {datetime.date.today().isoformat()} by "
             f"`tools/reproduce.py`. Our numbers are on the data's test split; the paper's are "
             f"on JD-landmark's test set.", ""]
    if budget == "mini":
        lines += ["**Toy scale.** The mini budget trains for minutes on a CPU from random "
                  "weights; on a synthetic set these numbers test the harness, not the paper.",
                  ""]
    unfinished = [r.name for r in runs if status(r) not in ("done", "diverged")]
    if unfinished:
        lines += [f"Not finished yet: {', '.join(unfinished)}.", ""]
    if "table2" in suites:
        lines += _table2(by_model, paper) + [""]
    if "table3" in suites:
        lines += _table3(by_model, paper) + [""]
    if "table4" in suites:
        lines += _grid("## Table 4: AUC by loss", paper["table4"], by_cell["table4"], LOSSES,
                       "") + [""]
    if "layers" in suites:
        lines += _grid("## Figure 3: AUC by number of layers (NaN: diverged)",
                       paper["figure3"], by_cell["figure3"], LAYERS, "L=") + [""]
    if figures:
        lines += ["## Runs", ""]
        for name, curves, ced in figures:
            lines += [f"### {name}", "", f"![{name} training]({curves})"]
            if ced:
                lines += ["", f"![{name} CED]({ced})"]
            lines.append("")
    atomic_write_text(out_path, "\n".join(lines) + "\n")
    return out_path

