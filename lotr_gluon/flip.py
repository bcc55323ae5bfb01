"""Horizontal flips of landmark sets, and flip test-time augmentation.

Coordinates follow OpenCV: pixel ``i`` has its centre at ``x = i``, so mirroring a ``width``
image maps ``x`` to ``width - 1 - x`` (what ``cv2.flip(image, 1)`` does to pixel centres).
"""
from __future__ import annotations

from typing import Callable, Sequence, Tuple, Union

import numpy as np


def flip_landmarks(landmarks: np.ndarray, width: float, flip_perm: Sequence[int]) -> np.ndarray:
    """Landmarks ``(..., N, 2)`` of an image -> the same landmarks in its mirror image.

    x is reflected and points are renumbered so that, e.g., the left eye of the mirrored face
    is again called the left eye.
    """
    landmarks = np.asarray(landmarks)
    mirrored = landmarks.copy()
    mirrored[..., 0] = (width - 1) - landmarks[..., 0]
    return renumber_mirrored(mirrored, flip_perm)


def renumber_mirrored(points: np.ndarray, flip_perm: Sequence[int]) -> np.ndarray:
    """Points ``(..., N, 2)`` already carried into a mirror image -> renumbered by the schema's
    flip table: point ``i`` of the image is point ``flip_perm[i]`` of the mirror."""
    points = np.asarray(points)
    out = np.empty_like(points)
    out[..., list(flip_perm), :] = points
    return out


def with_mirrors(images: np.ndarray) -> np.ndarray:
    """``(B, C, H, W)`` images followed by their left-right mirrors: one ``2B`` batch."""
    images = np.asarray(images)
    return np.ascontiguousarray(np.concatenate([images, images[..., ::-1]], axis=0))


def merge_mirrored(both: np.ndarray, width: float, flip_perm: Sequence[int]
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """Landmarks predicted for :func:`with_mirrors` -> ``(plain, averaged)``: the mirrors'
    landmarks are mapped back with :func:`flip_landmarks` and averaged with the plain ones."""
    both = np.asarray(both, dtype=np.float64)
    batch = both.shape[0] // 2
    plain, mirrored = both[:batch], both[batch:]
    return plain, 0.5 * (plain + flip_landmarks(mirrored, width, flip_perm))


def predict_with_flip(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                      flip_perm: Sequence[int], return_plain: bool = False
                      ) -> Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """Flip test-time augmentation in one forward pass.

    ``images`` ``(B, C, H, W)`` and their mirrors go through ``predict`` as one ``2B`` batch;
    the mirrors' landmarks are mapped back with :func:`flip_landmarks` and averaged with the
    plain ones. Returns ``(B, N, 2)``, or ``(plain, flipped)`` with ``return_plain``: the
    no-flip result comes free with the same forward pass.
    """
    images = np.asarray(images)
    plain, averaged = merge_mirrored(predict(with_mirrors(images)), images.shape[-1], flip_perm)
    return (plain, averaged) if return_plain else averaged
