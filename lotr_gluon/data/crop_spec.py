"""How a face is cut out of a photo: one rule for the training crops and for inference.

A :class:`CropSpec` is built from a run's ``data`` section (:meth:`CropSpec.of`), written by
export into the sidecar, and read back by the Predictor, so a deployed model is fed the crop
it was trained on. The training cropper (:class:`.transforms.FaceCropper`) adds augmentation
on top of the same map.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..errors import UserError
from .align import (
    ALIGN_MODES,
    BOX_MARGIN,
    DEFAULT_FACE_FRACTION,
    box_transform,
    estimate_transform,
    face_template,
    warp,
)


def to_network_input(bgr: np.ndarray) -> np.ndarray:
    """An OpenCV ``(H, W, 3)`` BGR image -> the networks' ``(3, H, W)`` float32 RGB input
    (0..255; the ImageNet normalisation is inside the graph)."""
    return np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)


@dataclass(frozen=True)
class CropSpec:
    """The crop a model takes.

    Attributes
    ----------
    input_size : int
        Side of the square crop in pixels.
    align : str
        ``five_point``: a similarity transform of the face's five points to :attr:`template`
        (the paper); ``bbox``: insightface's upright square of ``box_margin`` times the face
        box's longer side.
    face_fraction : float
        Share of the crop width the five-point template's face takes.
    box_margin : float
        ``bbox`` only: the square's side over the box's longer side.
    template_points : tuple of 5 (x, y), optional
        Where the five points land in the crop; None (what training writes) is the project's
        template at ``face_fraction`` (:func:`.align.face_template`).
    """

    input_size: int = 192
    align: str = "five_point"
    face_fraction: float = DEFAULT_FACE_FRACTION
    box_margin: float = BOX_MARGIN
    template_points: Optional[Tuple[Tuple[float, float], ...]] = None

    def __post_init__(self):
        if self.align not in ALIGN_MODES:
            raise UserError(f"unknown alignment {self.align!r}; expected one of {ALIGN_MODES}")

    @classmethod
    def of(cls, data: Any, input_size: int) -> "CropSpec":
        """The crop a run with the ``data`` section ``data`` (a :class:`.data_config.DataConfig`)
        trains its ``input_size`` model on."""
        return cls(int(input_size), data.align, float(data.face_fraction))

    @property
    def template(self) -> np.ndarray:
        """``(5, 2)`` crop-pixel positions the five points are aligned to."""
        if self.template_points is not None:
            return np.asarray(self.template_points, dtype=np.float64)
        return face_template(self.input_size, self.face_fraction)

    def with_template(self, template: np.ndarray) -> "CropSpec":
        """This spec with ``template`` as its five points' targets, kept implicit when it is
        the default one (a sidecar's rounded copy of it reads back as the exact default)."""
        template = np.asarray(template, dtype=np.float64).reshape(5, 2)
        if np.allclose(template, face_template(self.input_size, self.face_fraction), atol=1e-3):
            return replace(self, template_points=None)
        return replace(self, template_points=tuple(map(tuple, template.tolist())))

    def matrix(self, five_points: Optional[np.ndarray] = None, box=None) -> np.ndarray:
        """The 2x3 photo-to-crop map of a face given by its five points (``five_point``) or its
        ``(x1, y1, x2, y2)`` box (``bbox``)."""
        if self.align == "bbox":
            if box is None:
                raise ValueError("a bbox crop needs the face box")
            return box_transform(box, self.input_size, self.box_margin)
        if five_points is None:
            raise ValueError("a five-point crop needs the five points")
        return estimate_transform(five_points, self.input_size, template=self.template)

    def cut(self, image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The ``(3, S, S)`` float32 RGB network input that ``matrix`` maps ``image`` to."""
        return to_network_input(warp(image, matrix, self.input_size))

    def to_dict(self) -> Dict[str, Any]:
        """The sidecar's crop keys (the template too, for runtimes that do not derive it)."""
        return {"input_size": self.input_size, "align": self.align,
                "face_fraction": self.face_fraction, "box_margin": self.box_margin,
                "alignment_template": np.round(self.template, 4).tolist()}
