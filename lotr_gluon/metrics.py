"""Landmark accuracy: per-image NME, failure rate, AUC and the CED curve (numpy).

As in the JD-landmark challenge (Liu et al. 2019) and the paper (Eq. 7): NME is the mean
point-to-point error divided by ``d = sqrt(W * H)`` of the box that encloses the ground-truth
landmarks; an image fails when its NME exceeds 0.08; AUC is the area under the cumulative
error distribution (CED) on ``[0, 0.08]``, divided by 0.08. Functions return fractions; the
paper prints them in %.
"""
from __future__ import annotations

from typing import Optional, Protocol, Tuple

import numpy as np

from .errors import UserError


class EyeSchema(Protocol):
    """What the normalisers need of a landmark schema (``data.landmarks.LandmarkSchema`` has
    it); metrics do not import the data package, which imports them."""

    normaliser: str  # the markup's own rule, used where no ``norm`` is given
    outer_eye_corners: Tuple[int, int]

    def eye_centres(self, landmarks: np.ndarray) -> np.ndarray: ...

NORMALISATIONS = ("bbox", "inter_ocular", "inter_pupil")
FAILURE_THRESHOLD = 0.08


def _rule(norm: Optional[str], schema: Optional[EyeSchema]) -> str:
    """``norm``, else the schema's own normaliser, else ``bbox``."""
    if norm is not None:
        return norm
    return schema.normaliser if schema is not None else "bbox"


def normaliser(gt: np.ndarray, norm: Optional[str] = None,
               schema: Optional[EyeSchema] = None) -> np.ndarray:
    """The per-image distance ``d`` that NME divides by. ``gt``: ``(M, N, 2)`` -> ``(M,)``.

    ``bbox``: sqrt(w * h) of the GT-landmark box (JD-landmark). ``inter_ocular``: distance of
    the schema's outer eye corners (300W, WFLW). ``inter_pupil``: distance of the schema's eye
    centres. Without ``norm``: the schema's own rule, or ``bbox`` without a schema.
    """
    norm = _rule(norm, schema)
    gt = np.asarray(gt, dtype=np.float64)
    if norm == "bbox":  # over the labelled points (a point not labelled is NaN)
        with np.errstate(invalid="ignore"):
            extent = np.fmax.reduce(gt, axis=1) - np.fmin.reduce(gt, axis=1)  # (M, 2) w, h
        return np.sqrt(extent[:, 0] * extent[:, 1])
    if norm not in NORMALISATIONS:
        raise UserError(f"unknown NME normalisation {norm!r}; expected one of {NORMALISATIONS}")
    if schema is None:
        raise UserError(f"NME normalisation {norm!r} needs the landmark schema")
    if norm == "inter_ocular":
        left, right = schema.outer_eye_corners
        return np.linalg.norm(gt[:, left] - gt[:, right], axis=-1)
    centres = schema.eye_centres(gt)  # (M, 2, 2)
    return np.linalg.norm(centres[:, 0] - centres[:, 1], axis=-1)


def nme(pred: np.ndarray, gt: np.ndarray, norm: Optional[str] = None,
        schema: Optional[EyeSchema] = None) -> np.ndarray:
    """Per-image normalised mean error, divided by :func:`normaliser` (``norm``, by default
    the schema's own rule, else the landmark box).

    ``pred``, ``gt``: ``(M, N, 2)`` or ``(N, 2)``; returns ``(M,)``. A ground-truth point that
    is NaN is not labelled on that face: the mean runs over the labelled points only.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be (M, N, 2); got {pred.shape} and {gt.shape}")
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
    norm = _rule(norm, schema)
    d = normaliser(gt, norm, schema)
    bad = ~(d > 0)  # 0, or NaN where the normaliser's points are not labelled
    if np.any(bad):
        raise UserError(f"degenerate ground truth: {norm} normaliser is 0 or not labelled for "
                        f"image(s) {np.flatnonzero(bad).tolist()[:10]}")
    labelled = np.isfinite(gt).all(axis=-1)  # (M, N)
    if not labelled.any(axis=1).all():
        raise UserError(f"no labelled ground-truth point on image(s) "
                        f"{np.flatnonzero(~labelled.any(axis=1)).tolist()[:10]}")
    errors = np.linalg.norm(np.where(labelled[..., None], pred - gt, 0.0), axis=-1)
    return errors.sum(axis=1) / labelled.sum(axis=1) / d


def failure_rate(nmes: np.ndarray, threshold: float = FAILURE_THRESHOLD) -> float:
    """Fraction of images whose NME exceeds ``threshold``."""
    nmes = _check_nmes(nmes)
    return float(np.mean(nmes > threshold))


def auc(nmes: np.ndarray, threshold: float = FAILURE_THRESHOLD) -> float:
    """Exact area under the step CED on ``[0, threshold]``, divided by ``threshold``.

    The CED is ``F(e) = #{nme_i <= e} / M``, so its integral is
    ``sum_i max(0, threshold - nme_i) / M``: each image contributes the part of the interval
    in which it already counts as located.
    """
    nmes = _check_nmes(nmes)
    return float(np.mean(np.clip(threshold - nmes, 0.0, None)) / threshold)


def ced(nmes: np.ndarray, threshold: float = FAILURE_THRESHOLD,
        num: int = 1001) -> Tuple[np.ndarray, np.ndarray]:
    """The CED on a grid: ``errors`` in ``[0, threshold]``, fraction of images at or below."""
    nmes = np.sort(_check_nmes(nmes))
    errors = np.linspace(0.0, threshold, num)
    return errors, np.searchsorted(nmes, errors, side="right") / len(nmes)


def _check_nmes(nmes: np.ndarray) -> np.ndarray:
    nmes = np.asarray(nmes, dtype=np.float64).ravel()
    if nmes.size == 0:
        raise UserError("no NME values: the evaluation set is empty")
    return nmes


def mean_shape(landmarks: np.ndarray) -> np.ndarray:
    """The mean ``(N, 2)`` shape of ``(M, N, 2)`` crop landmarks (the mean-shape baseline),
    each point's over the faces where it is labelled (not NaN)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    labelled = np.isfinite(landmarks)
    if not labelled.any(axis=0).all():
        never = sorted(set(np.flatnonzero(~labelled.any(axis=0).all(axis=-1)).tolist()))
        raise UserError(f"point(s) {never[:10]} are labelled on no training face")
    return np.where(labelled, landmarks, 0.0).sum(axis=0) / labelled.sum(axis=0)
