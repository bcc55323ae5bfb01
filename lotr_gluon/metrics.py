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
    """What the eye-based normalisers need of a landmark schema (``data.landmarks.
    LandmarkSchema`` has it); metrics do not import the data package, which imports them."""

    outer_eye_corners: Tuple[int, int]

    def eye_centres(self, landmarks: np.ndarray) -> np.ndarray: ...

NORMALISATIONS = ("bbox", "inter_ocular", "inter_pupil")
FAILURE_THRESHOLD = 0.08


def normaliser(gt: np.ndarray, norm: str = "bbox",
               schema: Optional[EyeSchema] = None) -> np.ndarray:
    """The per-image distance ``d`` that NME divides by. ``gt``: ``(M, N, 2)`` -> ``(M,)``.

    ``bbox``: sqrt(w * h) of the GT-landmark box (JD-landmark). ``inter_ocular``: distance of
    the schema's outer eye corners (300W, WFLW). ``inter_pupil``: distance of the schema's eye
    centres.
    """
    gt = np.asarray(gt, dtype=np.float64)
    if norm == "bbox":
        extent = gt.max(axis=1) - gt.min(axis=1)  # (M, 2) box width and height
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


def nme(pred: np.ndarray, gt: np.ndarray, norm: str = "bbox",
        schema: Optional[EyeSchema] = None) -> np.ndarray:
    """Per-image normalised mean error.

    ``pred``, ``gt``: ``(M, N, 2)`` or ``(N, 2)``; returns ``(M,)``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be (M, N, 2); got {pred.shape} and {gt.shape}")
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
    d = normaliser(gt, norm, schema)
    if np.any(d <= 0):
        raise UserError(f"degenerate ground truth: {norm} normaliser is 0 for image(s) "
                         f"{np.flatnonzero(d <= 0).tolist()[:10]}")
    return np.linalg.norm(pred - gt, axis=-1).mean(axis=1) / d


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
    """The mean ``(N, 2)`` shape of ``(M, N, 2)`` crop landmarks (the mean-shape baseline)."""
    return np.asarray(landmarks, dtype=np.float64).mean(axis=0)
