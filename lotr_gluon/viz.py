"""Plots people would rather look at than read: the loss curves of Figure 2 and CED curves."""
from __future__ import annotations

import os
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import UserError
from .fileio import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> None:
    ext = path.rsplit(".", 1)[-1] if "." in path else "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=ext, dpi=120, bbox_inches="tight")


def save_image(path: str, image: np.ndarray) -> None:
    """Encode a BGR image by the path's extension and write it atomically."""
    import cv2

    ext = "." + path.rsplit(".", 1)[-1] if "." in os.path.basename(path) else ".png"
    ok, buf = cv2.imencode(ext, image)
    if not ok:
        raise UserError(f"cannot write {path}: unsupported image type {ext}")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(buf.tobytes())


LossCurve = Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray]]


def plot_figure2(path: str, curves: Dict[str, LossCurve], w: float = 10.0, eps: float = 2.0,
                 t: float = 0.01) -> None:
    """Redraw the paper's Figure 2: loss (top) and gradient (bottom) of each curve, globally
    (left), around the outer threshold ``w`` (middle) and around 0 (right).

    ``curves`` maps a label to ``x -> (g(x), g'(x))`` (``lotr_gluon.losses.loss_and_gradient``
    with the loss's thresholds); the last one is drawn solid, the others dashed.
    """
    plt = _pyplot()
    windows = [(-2.5 * w, 2.5 * w), (w - 0.5, w + 0.5), (-4 * t, 4 * t)]
    titles = ["global", f"at w = {w:g}", "at x = 0"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for col, ((lo, hi), title) in enumerate(zip(windows, titles)):
        x = np.linspace(lo, hi, 4001)
        for i, (label, curve) in enumerate(curves.items()):
            value, grad = curve(x)
            style = "-" if i == len(curves) - 1 else "--"
            axes[0, col].plot(x, value, style, label=label)
            axes[1, col].plot(x, grad, style, label=label)
        axes[0, col].set_title(f"loss, {title}")
        axes[1, col].set_title(f"gradient, {title}")
        for row in range(2):
            axes[row, col].grid(alpha=0.3)
            axes[row, col].set_xlabel("x (px of the 192 crop)")
    axes[0, 0].legend()
    fig.suptitle(f"Wing (w={w:g}, eps={eps:g}) vs smooth-Wing (t={t:g}): the paper's Figure 2")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_ced(curves: Dict[str, np.ndarray], path: str, threshold: float = 0.08,
             title: Optional[str] = None) -> None:
    """Overlay the CED curves of several runs (label -> per-image NMEs), threshold marked."""
    from .metrics import auc, ced, failure_rate

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, nmes in curves.items():
        errors, fraction = ced(nmes, threshold)
        ax.plot(errors * 100, fraction * 100,
                label=f"{label}: AUC {auc(nmes, threshold) * 100:.2f}, "
                      f"FR {failure_rate(nmes, threshold) * 100:.2f}")
    ax.axvline(threshold * 100, color="grey", linestyle=":", label=f"failure at {threshold:g}")
    ax.set_xlabel("NME (%)")
    ax.set_ylabel("images (%)")
    ax.set_xlim(0, threshold * 100 * 1.05)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "Cumulative error distribution")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _baseline(ax, drawn: Dict[float, object], value: float, color, label: str) -> None:
    """A dashed mean-shape line; runs on the same data share one grey line, drawn once.
    ``drawn`` maps the values already drawn on ``ax`` to their lines."""
    for other, line in drawn.items():
        if np.isclose(other, value):
            line.set_color("0.3")
            line.set_label("mean shape")
            return
    drawn[value] = ax.axhline(value, color=color, ls="--", lw=1, label=f"{label}: mean shape")


def plot_training_curves(log_paths: Union[str, Sequence[str]], path: str,
                         title: Optional[str] = None,
                         labels: Optional[Sequence[str]] = None,
                         references: Optional[Dict[str, float]] = None) -> None:
    """Learning curves from one or more ``log.jsonl``: training loss and validation NME.

    The x axis is optimizer iterations (epochs for logs written before iterations were
    logged). The mean-shape baseline (the training mean shape predicted for every face) is
    drawn as a dashed line in both panels: its loss under the run's loss function, and its
    validation NME. A model below those lines has learned more than the average face.
    ``references`` maps a name to a validation NME in % drawn across the NME panel (another
    method's score, e.g. the linear floor).
    """
    import json

    if isinstance(log_paths, str):
        log_paths = [log_paths]
    labels = list(labels or [os.path.basename(os.path.dirname(os.path.abspath(p)))
                             for p in log_paths])
    plt = _pyplot()
    fig, (ax_loss, ax_nme) = plt.subplots(1, 2, figsize=(10, 3.8))
    loss_lines: Dict[float, object] = {}
    nme_lines: Dict[float, object] = {}
    x_label = "iteration"
    for log_path, label in zip(log_paths, labels):
        with open(log_path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        if not records:
            raise UserError(f"{log_path}: no epochs logged yet")
        if "iteration" not in records[0]:
            x_label = "epoch"
        x = lambda r: r.get("iteration", r["epoch"])  # noqa: E731
        line, = ax_loss.plot([x(r) for r in records], [r["loss"] for r in records],
                             marker=".", label=label)
        if "mean_shape_loss" in records[-1]:
            _baseline(ax_loss, loss_lines, records[-1]["mean_shape_loss"], line.get_color(),
                      label)
        validated = [r for r in records if "val" in r]
        for mode, style in (("no_flip", "-"), ("flip", ":")):
            ax_nme.plot([x(r) for r in validated],
                        [r["val"][mode]["nme"] * 100 for r in validated], ls=style,
                        marker=".", color=line.get_color(),
                        label=f"{label}, {mode.replace('_', ' ')}")
        if validated and "mean_shape_nme" in validated[-1]:
            _baseline(ax_nme, nme_lines, validated[-1]["mean_shape_nme"] * 100,
                      line.get_color(), label)
    for (name, value), style in zip((references or {}).items(), ("-.", (0, (1, 3)), "--")):
        ax_nme.axhline(value, color="black", ls=style, lw=1, label=f"{name} ({value:g}%)")
    from matplotlib.ticker import FuncFormatter

    ax_loss.set_ylabel("training loss")
    ax_nme.set_ylabel("validation NME (%)")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    for ax in (ax_loss, ax_nme):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.set_xlabel(x_label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper right")  # the curves fall from the upper left
    fig.suptitle(title or ", ".join(labels))
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray,
                   polylines: Sequence[Tuple[Sequence[int], bool]] = (),
                   color=(0, 255, 0), show_index: bool = False, radius: int = 1) -> np.ndarray:
    """A copy of a BGR ``image`` with ``(N, 2)`` landmarks, their polylines and optional indices.

    A NaN point (not labelled) is not drawn, nor are the line pieces that touch it.
    """
    import cv2

    canvas = np.ascontiguousarray(image.copy())
    pts = np.asarray(landmarks, dtype=np.float64)
    labelled = np.isfinite(pts).all(axis=1)
    for indices, closed in polylines:
        indices = list(indices)
        if labelled[indices].all():
            line = np.round(pts[indices]).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [line], closed, color, 1, cv2.LINE_AA)
            continue
        ends = zip(indices, indices[1:] + (indices[:1] if closed else []))
        for a, b in ends:
            if labelled[a] and labelled[b]:
                cv2.line(canvas, tuple(int(round(v)) for v in pts[a]),
                         tuple(int(round(v)) for v in pts[b]), color, 1, cv2.LINE_AA)
    for i, (x, y) in enumerate(pts):
        if not labelled[i]:
            continue
        cv2.circle(canvas, (int(round(x)), int(round(y))), radius, (0, 0, 255), -1, cv2.LINE_AA)
        if show_index:
            cv2.putText(canvas, str(i), (int(round(x)) + 2, int(round(y)) - 2),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.3, (255, 255, 0), 1, cv2.LINE_AA)
    return canvas


def plot_landmark_trace(traces: Dict[str, list], path: str, point: int = 54) -> None:
    """The x coordinate of one landmark (default the nose tip) per frame of a video: each
    ``traces`` entry is a list of ``(N, 2)`` arrays or None; the ``"truth"`` entry is drawn
    thick and black."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 3.6))
    x_of = lambda seq: [np.nan if p is None else p[point, 0] for p in seq]  # noqa: E731
    ax.plot(x_of(traces["truth"]), color="k", lw=2, label="truth")
    for name, seq in traces.items():
        if name == "truth":
            continue
        ax.plot(x_of(seq), lw=1, label=name)
    ax.set_xlabel("frame")
    ax.set_ylabel(f"x of landmark {point} (px)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
