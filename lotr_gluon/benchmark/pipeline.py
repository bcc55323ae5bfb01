"""A photo through the Predictor, timed whole and by part: the detector, cutting the crops, the
landmark network on all of them at once, and mapping the points back to the photo."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict

import numpy as np

from ..data.align import invert, transform_points
from ..deploy.predictor import Predictor
from .timing import measure


@dataclass(frozen=True)
class PipelineRow:
    """Medians, ms, of one photo's parts and of the whole call, and the faces found."""

    model: str
    backend: str
    detector: str
    refine: int  # the Predictor's re-alignment passes, each another crops + network
    faces: int
    photo_ms: float  # Predictor(image), the whole call
    detector_ms: float
    crops_ms: float
    network_ms: float
    back_projection_ms: float

    def as_dict(self) -> Dict:
        return asdict(self)

    def __str__(self) -> str:
        refined = f", refine {self.refine}" if self.refine else ""
        return (f"photo pipeline ({self.model}, {self.backend}, {self.detector}{refined}): "
                f"{self.faces} faces in {self.photo_ms:.1f} ms a photo = detector "
                f"{self.detector_ms:.1f} + crops {self.crops_ms:.1f} + network "
                f"{self.network_ms:.1f} + back to the photo {self.back_projection_ms:.2f} ms")


def benchmark_pipeline(predictor: Predictor, image: np.ndarray, repeat: int = 30,
                       warmup: int = 3) -> PipelineRow:
    """Time ``predictor`` on ``image`` (a BGR array, so no decoding is counted), whole and by
    part, each a median of ``repeat`` runs. The parts are one pass: with ``refine`` passes the
    whole call also cuts the crops and runs the network that many times more."""
    faces = predictor.detector(image)
    cut = [predictor.crop(image, face) for face in faces]
    crops = np.stack([c for c, _ in cut]) if cut else None
    points = predictor.predict_crops(crops) if cut else None

    def back() -> None:
        for p, (_, matrix) in zip(points, cut):
            transform_points(p, invert(matrix))

    def time_of(fn) -> float:
        return measure(fn, warmup=warmup, repeat=repeat).median_ms

    return PipelineRow(
        predictor.model.name, predictor.backend,
        getattr(predictor.detector, "description", "a detector callable"), predictor.refine,
        len(faces),
        photo_ms=time_of(lambda: predictor(image)),
        detector_ms=time_of(lambda: predictor.detector(image)),
        crops_ms=time_of(lambda: [predictor.crop(image, face) for face in faces]),
        network_ms=time_of(lambda: predictor.predict_crops(crops)) if cut else 0.0,
        back_projection_ms=time_of(back) if cut else 0.0)
