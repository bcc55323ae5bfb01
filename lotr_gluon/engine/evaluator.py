"""Evaluation: predictions over a dataset, with and without flip TTA, and Table 2's metrics."""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

import mxnet as mx
import numpy as np

from ..data.align import to_photo
from ..errors import UserError
from ..fileio import atomic_path, atomic_write_text
from ..flip import predict_with_flip
from ..heatmap_codec import OutputSpec
from ..metrics import FAILURE_THRESHOLD, auc, failure_rate, mean_shape, nme

Predict = Callable[[np.ndarray], np.ndarray]  # (B, 3, S, S) float32 -> (B, N, 2)


def gluon_predictor(net, ctx: Optional[mx.Context] = None,
                    spec: Optional[OutputSpec] = None) -> Predict:
    """Wrap a network (Gluon block or imported SymbolBlock) as a numpy predict function.

    Heatmap and vector outputs are decoded to coordinates (``spec``: what the network outputs;
    by default read from the network's own attributes).
    """
    ctx = ctx or mx.cpu()
    spec = spec or OutputSpec.of(net)
    return lambda images: spec.decode(net(mx.nd.array(images, ctx=ctx)).asnumpy())


@dataclass
class EvalResult:
    """Per-image NMEs and landmarks of one evaluation."""

    nme: np.ndarray  # (M,) no flip
    nme_flip: np.ndarray  # (M,) flip TTA
    pred: np.ndarray  # (M, N, 2) no flip, crop pixels
    pred_flip: np.ndarray
    gt: np.ndarray

    def in_photo(self, matrices: np.ndarray, photo_gt: np.ndarray, norm: Optional[str] = None,
                 schema=None) -> "EvalResult":
        """The same predictions mapped back through each crop's inverse alignment and scored
        against the photo's landmarks, normalised in the photo (the JD protocol: the box of
        the photo's landmarks). On a rolled face this differs from the crop frame, where the
        aligned landmarks' box is another shape."""
        pred, pred_flip = to_photo(self.pred, matrices), to_photo(self.pred_flip, matrices)
        return EvalResult(nme(pred, photo_gt, norm, schema),
                          nme(pred_flip, photo_gt, norm, schema), pred, pred_flip,
                          np.asarray(photo_gt, dtype=np.float64))

    def metrics(self, threshold: float = FAILURE_THRESHOLD) -> Dict[str, Dict[str, float]]:
        """``{"no_flip": {...}, "flip": {...}}`` with nme, auc, failure_rate as fractions."""
        return {name: {"nme": float(np.mean(values)), "auc": auc(values, threshold),
                       "failure_rate": failure_rate(values, threshold)}
                for name, values in (("no_flip", self.nme), ("flip", self.nme_flip))}


def evaluate(predict: Predict, loader, flip_perm: Sequence[int], norm: Optional[str] = None,
             schema=None, progress: bool = False) -> EvalResult:
    """Run ``predict`` over a loader of ``(crops, landmarks)`` batches, plain and flipped.

    The flipped pass puts each batch and its mirror through one forward pass
    (:func:`predict_with_flip`). NME is per image in the crop frame; :meth:`EvalResult.in_photo`
    scores the same predictions in the photo, as the JD protocol does. The two differ on rolled
    faces: errors scale alike under the similarity transform, but the landmarks' bounding box,
    the normaliser, is upright in the crop and not in the photo.
    """
    from tqdm import tqdm

    preds, preds_flip, gts = [], [], []
    # disable=None: tqdm turns itself off when the output is not a terminal (CI logs).
    bar = tqdm(loader, desc="evaluate", unit="batch", leave=False,
               disable=None if progress else True)
    for images, landmarks in bar:
        images = images.asnumpy() if hasattr(images, "asnumpy") else np.asarray(images)
        both = predict_with_flip(predict, images, flip_perm, return_plain=True)
        preds.append(both[0])
        preds_flip.append(both[1])
        gts.append(landmarks.asnumpy() if hasattr(landmarks, "asnumpy") else landmarks)
    if not gts:
        raise UserError("evaluation set is empty")
    pred, pred_flip, gt = (np.concatenate(a) for a in (preds, preds_flip, gts))
    return EvalResult(nme(pred, gt, norm, schema), nme(pred_flip, gt, norm, schema), pred,
                      pred_flip, gt)


def mean_shape_in_photo(train_landmarks: np.ndarray, matrices: np.ndarray,
                        photo_gt: np.ndarray, schema=None) -> float:
    """The mean-shape baseline in the photo frame: the training crops' mean shape, mapped into
    each evaluated photo through that face's inverse alignment, scored as the model is."""
    guess = to_photo(mean_shape(train_landmarks), matrices)
    return float(np.mean(nme(guess, photo_gt, schema=schema)))


def table2_line(label: str, metrics: Dict[str, float]) -> str:
    """One row in the paper's Table 2 format: AUC / failure rate / NME in %."""
    return (f"{label:<12} AUC {metrics['auc'] * 100:6.2f}  FR {metrics['failure_rate'] * 100:5.2f}"
            f"  NME {metrics['nme'] * 100:5.2f}")


def write_report(out_dir: str, result: EvalResult, names: Sequence[str],
                 extra: Optional[Dict] = None) -> Dict:
    """Write ``metrics.json`` and ``per_image_nme.csv`` into ``out_dir``; return the metrics."""
    os.makedirs(out_dir, exist_ok=True)
    metrics = result.metrics()
    report = {**metrics, "num_images": int(len(result.nme)), **(extra or {})}
    atomic_write_text(os.path.join(out_dir, "metrics.json"), json.dumps(report, indent=2) + "\n")
    with atomic_path(os.path.join(out_dir, "per_image_nme.csv")) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["image", "nme", "nme_flip"])
            for name, a, b in zip(names, result.nme, result.nme_flip):
                writer.writerow([name, f"{a:.6f}", f"{b:.6f}"])
    return report


def read_per_image_nme(path: str, flip: bool = True) -> np.ndarray:
    """NMEs from a ``per_image_nme.csv`` (a run folder or the file), for CED overlays."""
    if os.path.isdir(path):
        path = os.path.join(path, "per_image_nme.csv")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no per_image_nme.csv (run tools/eval.py on it first)")
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return np.array([float(r["nme_flip" if flip else "nme"]) for r in rows])
