"""Five-point face alignment: a similarity transform to a template, warp, and its inverse.

Matrices are 2x3 affine maps of OpenCV pixel coordinates (pixel ``i`` centred at ``i``), from
the original image to the crop; ``cv2.warpAffine(image, M, ...)`` and
:func:`transform_points` apply the same map to pixels and to points.

The template is ArcFace's five points (eye centres, nose tip, mouth corners), but not at
ArcFace's scale: the 112 px recognition crop cuts off the jaw. Here the eye-to-mouth distance
``D`` is set so that a mean face's box (2.15 D wide, brows to chin 1.84 D, centred 0.685 D
below the eye midpoint; measured on insightface's 68-point mean shape) spans
``face_fraction`` of the crop, centred.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import UserError

# ArcFace's 5-point template in its 112x112 crop (insightface.utils.face_align.arcface_dst).
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]])
FACE_WIDTH_IN_D = 2.15
FACE_CENTRE_IN_D = np.array([0.01, 0.685])  # mean face box centre from the eye midpoint
DEFAULT_FACE_FRACTION = 0.65  # leaves >= 4 px for a face turned 30 degrees (tested)
BOX_MARGIN = 1.5  # insightface's Landmark crop: a square of 1.5x the box's longer side
ALIGN_MODES = ("five_point", "bbox")


def face_template(crop_size: int = 192, face_fraction: float = DEFAULT_FACE_FRACTION
                  ) -> np.ndarray:
    """The ``(5, 2)`` alignment targets in a ``crop_size`` crop.

    ``face_fraction`` is the share of the crop width the face (jaw to jaw) takes: smaller
    leaves more margin for turned faces and augmentation.
    """
    if not 0 < face_fraction <= 1:
        raise UserError(f"face_fraction must be in (0, 1], got {face_fraction}")
    eye_mid = ARCFACE_112[:2].mean(axis=0)
    d = ARCFACE_112[3:].mean(axis=0)[1] - eye_mid[1]
    unit = (ARCFACE_112 - eye_mid) / d  # in eye-to-mouth distances
    d_px = face_fraction * crop_size / FACE_WIDTH_IN_D
    centre = (crop_size - 1) / 2.0
    return (unit - FACE_CENTRE_IN_D) * d_px + centre


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation taking ``src`` to ``dst`` (2x3)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching (K, 2) point sets with K >= 2, got {src.shape} and "
                         f"{dst.shape}")
    # [u, v] = [[a, -b], [b, a]] [x, y] + [tx, ty], linear in (a, b, tx, ty).
    rows = np.zeros((2 * len(src), 4))
    rows[0::2] = np.stack([src[:, 0], -src[:, 1], np.ones(len(src)), np.zeros(len(src))], 1)
    rows[1::2] = np.stack([src[:, 1], src[:, 0], np.zeros(len(src)), np.ones(len(src))], 1)
    (a, b, tx, ty), *_ = np.linalg.lstsq(rows, dst.reshape(-1), rcond=None)
    if a == 0 and b == 0:
        raise UserError("degenerate alignment points: all five coincide")
    return np.array([[a, -b, tx], [b, a, ty]])


def estimate_transform(five_points: np.ndarray, crop_size: int = 192,
                       face_fraction: float = DEFAULT_FACE_FRACTION,
                       template: Optional[np.ndarray] = None) -> np.ndarray:
    """The 2x3 map from an image to its aligned ``crop_size`` crop, given the face's 5 points."""
    target = face_template(crop_size, face_fraction) if template is None else template
    return similarity_transform(five_points, target)


def box_transform(box, crop_size: int = 192, margin: float = BOX_MARGIN) -> np.ndarray:
    """insightface's box-centred crop: no rotation, ``margin`` times the box's longer side.

    Maps the box centre to ``crop_size / 2`` exactly as ``insightface.utils.face_align.
    transform`` does, so points predicted on this crop go back through the same matrix.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1)
    if not side > 0:
        raise UserError(f"degenerate face box {box}")
    scale = crop_size / (side * margin)
    centre = np.array([x1 + x2, y1 + y2]) / 2.0
    return np.array([[scale, 0.0, crop_size / 2.0 - scale * centre[0]],
                     [0.0, scale, crop_size / 2.0 - scale * centre[1]]])


def points_box(points: np.ndarray) -> np.ndarray:
    """``(x1, y1, x2, y2)`` of the points' bounding box (of the labelled ones: NaN is not)."""
    points = np.asarray(points, dtype=np.float64)
    return np.concatenate([np.fmin.reduce(points, axis=0), np.fmax.reduce(points, axis=0)])


def warp(image: np.ndarray, matrix: np.ndarray, crop_size: int = 192) -> np.ndarray:
    """Cut the ``crop_size`` square that ``matrix`` maps the image into (bilinear, black border)."""
    import cv2  # here, so that the geometry (and config.py, which reads its constants) loads
    # without OpenCV

    return cv2.warpAffine(image, np.asarray(matrix, dtype=np.float64), (crop_size, crop_size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine map to ``(..., 2)`` points."""
    points = np.asarray(points, dtype=np.float64)
    matrix = np.asarray(matrix, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse 2x3 map: crop pixels back to the original image."""
    # In closed form: np.linalg.inv is slow beside MXNet's threads (BLAS threads contend for
    # the same cores), and a tracked frame makes several calls.
    matrix = np.asarray(matrix, dtype=np.float64)
    linear = matrix[:, :2]
    det = linear[0, 0] * linear[1, 1] - linear[0, 1] * linear[1, 0]
    if det == 0:
        raise ValueError("a singular 2x3 map has no inverse")
    inverse = np.array([[linear[1, 1], -linear[0, 1]], [-linear[1, 0], linear[0, 0]]]) / det
    return np.concatenate([inverse, -(inverse @ matrix[:, 2])[:, None]], axis=1)


def to_photo(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Crop points back to their photos: ``(M, N, 2)`` (or one ``(N, 2)`` shape for all) and
    ``(M, 2, 3)`` photo-to-crop maps -> ``(M, N, 2)`` photo points."""
    return np.stack([transform_points(p, invert(m))
                     for p, m in zip(np.broadcast_to(points, (len(matrices),)
                                                     + np.shape(points)[-2:]), matrices)])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 map that applies ``inner`` then ``outer``."""
    full = lambda m: np.vstack([np.asarray(m, dtype=np.float64), [0.0, 0.0, 1.0]])
    return (full(outer) @ full(inner))[:2]
