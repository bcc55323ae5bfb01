"""The closing summary of ``make demo``: numbers, output locations, and the mean-shape bar."""
from __future__ import annotations

import json
import os
from typing import Dict, Sequence, Tuple

from .errors import UserError


def _read_metrics(folder: str, run_dir: str) -> Dict:
    path = os.path.join(folder, "metrics.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no metrics; run tools/eval.py --checkpoint {run_dir}")
    with open(path, encoding="utf-8") as f:
        metrics = json.load(f)
    if "mean_shape_nme" not in metrics:
        raise UserError(f"{path}: no mean_shape_nme (evaluate a config split, not --data)")
    return metrics


def _aligned_how(metrics: Dict) -> str:
    alignment = metrics.get("alignment")
    if not alignment:
        return "aligned as the run was trained"
    if alignment["source"] == "ground_truth":
        return "aligned from the ground truth's five points"
    return (f"aligned by the detector ({alignment['detected']} of {alignment['faces']}; "
            f"{alignment['fallback']} it missed from the ground truth)")


def summarize_run(run_dir: str, factor: float = 3.0, also: Sequence[str] = ()
                  ) -> Tuple[str, bool]:
    """Text for the terminal and whether the flip NME beats the mean shape ``factor`` times.

    ``also``: folders of further evaluations of the same model (another alignment source),
    each summarised in one line; the bar applies to ``run_dir``'s own evaluation.
    """
    metrics = _read_metrics(run_dir, run_dir)
    lines = [f"{'':10} {'NME %':>7} {'AUC %':>7} {'FR %':>6}"]
    for mode in ("no_flip", "flip"):
        m = metrics[mode]
        lines.append(f"{mode:10} {m['nme'] * 100:7.2f} {m['auc'] * 100:7.2f} "
                     f"{m['failure_rate'] * 100:6.2f}")
    baseline = metrics["mean_shape_nme"]
    ratio = baseline / max(metrics["flip"]["nme"], 1e-12)
    passed = ratio >= factor
    lines.append(f"{'mean shape':10} {baseline * 100:7.2f}   -> the model is {ratio:.1f}x "
                 f"better ({'PASS' if passed else 'FAIL'}: the bar is {factor:g}x)")
    if "linear_floor_nme" in metrics:
        floor, model = metrics["linear_floor_nme"], metrics["flip"]["nme"]
        verdict = (f"the model is {floor / max(model, 1e-12):.2f}x better" if model < floor
                   else f"the model is {model / floor:.2f}x worse: it has not yet learned more "
                        f"than a linear map of HOG features")
        lines.append(f"{'HOG ridge':10} {floor * 100:7.2f}   -> {verdict}")
    lines.append(f"NME in the {metrics.get('frame', 'crop')} frame; faces {_aligned_how(metrics)}")
    for folder in also:
        other = _read_metrics(folder, run_dir)
        nme, base = other["flip"]["nme"], other["mean_shape_nme"]
        floor = (f", HOG ridge {other['linear_floor_nme'] * 100:.2f}"
                 if "linear_floor_nme" in other else "")
        lines.append(f"  and with faces {_aligned_how(other)}: flip NME {nme * 100:.2f} vs "
                     f"mean shape {base * 100:.2f} ({base / max(nme, 1e-12):.1f}x){floor}")
    lines.append("")
    outputs = [("metrics", "metrics.json"), ("per-image NME", "per_image_nme.csv"),
               ("CED plot", "ced.png"), ("training log", "log.jsonl"),
               ("checkpoints", "best.ckpt, last.ckpt"), ("config", "config.yaml"),
               ("exported model", "export/"), ("predictions", "predictions/")]
    for label, name in outputs:
        lines.append(f"{label:>15}: {os.path.join(run_dir, name)}")
    return "\n".join(lines), passed
