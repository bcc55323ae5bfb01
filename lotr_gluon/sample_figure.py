"""The data pipeline drawn stage by stage, for checking a dataset by eye."""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .data.dataset import item_rng
from .data.detector import GroundTruthDetector, get_detector
from .data.data_config import DataConfig
from .data.dataset_schema import dataset_schema
from .data.formats import scan_dataset
from .data.image_file import read_image_file
from .data.samples import DatasetError
from .data.transforms import AugmentConfig, FaceCropper, from_network_input
from .errors import UserError
from .viz import draw_landmarks, save_image


def _tile(image: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(image.shape[:2])
    resized = cv2.resize(image, (max(1, round(image.shape[1] * scale)),
                                 max(1, round(image.shape[0] * scale))))
    canvas = np.zeros((side, side, 3), np.uint8)
    canvas[:resized.shape[0], :resized.shape[1]] = resized
    return canvas


def _face_finder(detector: str, schema, model_path: Optional[str]):
    """``(image, sample) -> faces``: the annotation's own face (``gt``) or a detector's."""
    if detector == "gt":
        truth = GroundTruthDetector(schema)
        return lambda image, sample: [truth.from_landmarks(sample.landmarks)]
    find = get_detector(detector, model_path=model_path)
    return lambda image, sample: find(image)


def draw_pipeline(root: str, out: str, fmt: str = "jd106", num: int = 4, augmented: int = 3,
                  detector: str = "gt", detector_model: Optional[str] = None,
                  seed: int = 0, side: int = 192) -> int:
    """Write the stage-by-stage figure for the first ``num`` samples; returns the rows drawn."""
    samples, _ = scan_dataset(root, fmt)
    if not samples:
        raise UserError(f"{root}: no usable samples to draw")
    schema = dataset_schema(DataConfig(format=fmt), root)
    plain = FaceCropper(schema, side)
    augment = FaceCropper(schema, side, augment=AugmentConfig())
    find = _face_finder(detector, schema, detector_model)
    rows = []
    for index, sample in enumerate(samples[:num]):
        try:
            image = read_image_file(sample.image_path)
        except DatasetError:  # unreadable or damaged: the rows show the photos that read
            continue
        raw = draw_landmarks(image, sample.landmarks, schema.polylines)
        faces = find(image, sample)
        boxed = image.copy()
        for face in faces:
            x1, y1, x2, y2 = (int(round(v)) for v in face.box)
            cv2.rectangle(boxed, (x1, y1), (x2, y2), (0, 255, 0), 2)
            for x, y in face.five_points:
                cv2.circle(boxed, (int(round(x)), int(round(y))), 3, (0, 0, 255), -1)
        crop, points = plain(image, sample.landmarks)
        tiles = [_tile(raw, side), _tile(boxed, side),
                 draw_landmarks(from_network_input(crop), points, schema.polylines)]
        for k in range(augmented):
            crop, points = augment(image, sample.landmarks, item_rng(seed, k, index))
            tiles.append(draw_landmarks(from_network_input(crop), points, schema.polylines))
        rows.append(np.concatenate(tiles, axis=1))
    if not rows:
        raise UserError(f"{root}: none of the first {num} images could be read")
    save_image(out, np.concatenate(rows, axis=0))
    return len(rows)
