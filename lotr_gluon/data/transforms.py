"""From an annotated photo to a network input: the crop, augmentation, colour jitter.

Transforms take and return the image and its landmarks together, so geometry never drifts
apart. Alignment and every random geometric change (rotation, scale, displacement, mirror)
are composed into one affine matrix and the photo is warped once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np

from ..flip import renumber_mirrored
from .align import compose, invert, points_box, transform_points, warp
from .crop_spec import CropSpec, to_network_input
from .landmarks import LandmarkSchema

__all__ = ["AugmentConfig", "FaceCropper", "from_network_input", "to_network_input"]

CANVAS_SCALE = 2  # canvas side / crop side: room for 20 deg, 0.9x zoom and 5% shift


def from_network_input(chw: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_network_input`, rounded to a uint8 BGR image for drawing."""
    return np.ascontiguousarray(chw.transpose(1, 2, 0)[:, :, ::-1]).clip(0, 255).astype(np.uint8)

@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation, applied after alignment.

    The paper (Section 4.3) uses "the same steps described by Earp et al. (2021)" and gives no
    values; the text available to us does not give Earp et al.'s either. The kinds (rotation,
    zoom, shift, mirror, colour jitter) are theirs; every range below is chosen here, not
    sourced (docs/paper-notes.md; what the geometric ones change is measured in
    docs/training.md).

    rotation : float
        Maximum in-plane rotation in degrees, uniform in ``[-rotation, rotation]``.
    scale : float
        Maximum relative zoom, uniform in ``[1 - scale, 1 + scale]``.
    shift : float
        Maximum displacement as a fraction of the crop, per axis.
    flip : float
        Probability of a horizontal mirror (landmarks renumbered by the schema).
    brightness, contrast, saturation : float
        Colour jitter strengths, each uniform in ``[-value, value]``.
    """

    rotation: float = 20.0
    scale: float = 0.1
    shift: float = 0.05
    flip: float = 0.5
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25


def random_geometry(rng: np.random.RandomState, crop_size: int, cfg: AugmentConfig
                    ) -> Tuple[np.ndarray, bool]:
    """A random 2x3 crop-to-crop map (rotation and zoom about the centre, shift, mirror)."""
    angle = math.radians(rng.uniform(-cfg.rotation, cfg.rotation))
    zoom = rng.uniform(1 - cfg.scale, 1 + cfg.scale)
    shift = rng.uniform(-cfg.shift, cfg.shift, 2) * crop_size
    mirror = rng.rand() < cfg.flip
    c = (crop_size - 1) / 2.0
    cos, sin = zoom * math.cos(angle), zoom * math.sin(angle)
    m = np.array([[cos, -sin, c - cos * c + sin * c + shift[0]],
                  [sin, cos, c - sin * c - cos * c + shift[1]]])
    if mirror:
        m = compose(np.array([[-1.0, 0.0, crop_size - 1.0], [0.0, 1.0, 0.0]]), m)
    return m, mirror


def jitter_colour(crop: np.ndarray, rng: np.random.RandomState, cfg: AugmentConfig
                  ) -> np.ndarray:
    """Brightness, contrast and saturation jitter on a uint8 BGR crop; returns float32."""
    out = crop.astype(np.float32)
    if cfg.saturation:
        grey = out.mean(axis=2, keepdims=True)
        out = grey + (out - grey) * (1 + rng.uniform(-cfg.saturation, cfg.saturation))
    if cfg.contrast:
        out = out.mean() + (out - out.mean()) * (1 + rng.uniform(-cfg.contrast, cfg.contrast))
    if cfg.brightness:
        out = out + 255.0 * rng.uniform(-cfg.brightness, cfg.brightness) * 0.5
    return np.clip(out, 0, 255)


class FaceCropper:
    """Cuts a photo's face to its crop (:class:`.crop_spec.CropSpec`) and, for training,
    augments it.

    Parameters
    ----------
    schema : LandmarkSchema
        Gives the five alignment points and the flip permutation.
    crop : CropSpec or int
        The crop the model takes (an int: a five-point crop of that size with the default
        face fraction). The Predictor cuts the same crop from the same spec in the sidecar.
    augment : AugmentConfig, optional
        None for evaluation (the crop only).
    """

    def __init__(self, schema: LandmarkSchema, crop: Union[CropSpec, int] = 192,
                 augment: Optional[AugmentConfig] = None):
        self.schema = schema
        self.crop = crop if isinstance(crop, CropSpec) else CropSpec(int(crop))
        self.augment = augment

    def crop_matrix(self, landmarks: np.ndarray, box=None,
                    five_points: Optional[np.ndarray] = None) -> np.ndarray:
        """The 2x3 photo-to-crop map of a face, by :attr:`crop`'s rule.

        ``five_points`` (a detector's) default to the landmarks' own, and ``box`` (the
        dataset's rect, or a detector's) to the landmarks' box.
        """
        if self.crop.align == "bbox":
            return self.crop.matrix(box=points_box(landmarks) if box is None else box)
        if five_points is None:
            five_points = self.schema.five_point(landmarks)
        return self.crop.matrix(five_points=five_points)

    def canvas_matrix(self, landmarks: np.ndarray, box=None,
                      five_points: Optional[np.ndarray] = None) -> np.ndarray:
        """Photo -> canvas map: the aligned crop centred in a ``CANVAS_SCALE`` times larger square.

        The canvas keeps enough surroundings for any augmentation, so a cache of canvases
        (:mod:`.crop_cache`) can stand in for the photo.
        """
        offset = (CANVAS_SCALE - 1) * self.crop.input_size / 2.0
        return compose(np.array([[1.0, 0.0, offset], [0.0, 1.0, offset]]),
                       self.crop_matrix(landmarks, box, five_points))

    @property
    def canvas_size(self) -> int:
        return CANVAS_SCALE * self.crop.input_size

    def __call__(self, image: np.ndarray, landmarks: np.ndarray,
                 rng: Optional[np.random.RandomState] = None, box=None,
                 source: Optional[np.ndarray] = None,
                 five_points: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """``(BGR photo, (N, 2) landmarks)`` -> ``(3xSxS float32 RGB 0..255, (N, 2) float32)``.

        ``landmarks``, ``box`` and ``five_points`` are in the photo's pixels. ``source``, when
        given, is the 2x3 map from the photo to ``image`` (a cached canvas instead of the photo
        itself).
        """
        matrix = self.crop_matrix(landmarks, box, five_points)
        mirror = False
        if self.augment is not None:
            if rng is None:
                raise ValueError("augmentation needs a random generator")
            geometry, mirror = random_geometry(rng, self.crop.input_size, self.augment)
            matrix = compose(geometry, matrix)
        pixels_map = matrix if source is None else compose(matrix, invert(source))
        crop = warp(image, pixels_map, self.crop.input_size)
        points = transform_points(landmarks, matrix)
        if mirror:  # the matrix mirrored the pixels; renumber the points to match
            points = renumber_mirrored(points, self.schema.flip_perm)
        pixels = (jitter_colour(crop, rng, self.augment) if self.augment is not None
                  else crop.astype(np.float32))
        return to_network_input(pixels), points.astype(np.float32)
