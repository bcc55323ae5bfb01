"""What a dataset split is and how its faces are cropped: the ``data`` section of a config.

It lives with the data package (as :class:`.transforms.AugmentConfig` does) so that
:func:`.dataset.open_dataset` takes one config object instead of a list of values, and the
allowed values of each choice are checked in one place (:func:`check_choices`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

from ..errors import UserError
from .align import ALIGN_MODES, DEFAULT_FACE_FRACTION
from .transforms import AugmentConfig

SPLITS = ("train", "val", "test")  # the splits a config names (DataConfig.train, ...)
ALIGN_SOURCES = ("ground_truth", "detector")
MISS_POLICIES = ("ground_truth", "skip")
DAMAGE_POLICIES = ("skip", "error")
# Each choice of the section and the values it takes.
CHOICES: Dict[str, Tuple[str, ...]] = {"align": ALIGN_MODES, "align_source": ALIGN_SOURCES,
                                       "on_miss": MISS_POLICIES, "on_damaged": DAMAGE_POLICIES}


@dataclass
class DataConfig:
    format: str = "jd106"
    # The landmark schema (data/landmarks.py): a built-in's name, a schema file (.yaml), or its
    # mapping (a run's config.yaml carries a custom schema so). None: the format's own; a COCO
    # file's category gives its points, mirror pairs and lines.
    schema: Optional[Union[str, Dict[str, Any]]] = None
    root: Optional[str] = None  # the dataset folder; train/val/test are relative to it
    train: str = "train"
    val: str = "val"
    test: str = "test"
    face_fraction: float = DEFAULT_FACE_FRACTION
    align: str = "five_point"  # or "bbox": insightface's box crop (see data/transforms.py)
    # Whose five points (or box) align each face: the annotation's, or the detector's from
    # tools/detect_faces.py as in the paper (data/detections.py). A face the detector missed
    # is aligned from the ground truth (on_miss: ground_truth) or, in training, left out
    # (skip); validation and test always keep every face.
    align_source: str = "ground_truth"
    detections: Optional[str] = None  # folder of SPLIT.jsonl; default ROOT/detections
    on_miss: str = "ground_truth"
    # A damaged photo (a truncated JPEG, a PNG failing its CRC: data/image_file.py), found
    # before any epoch, in every split a run or an evaluation reads: left out and named in
    # the log and the run folder's damaged.json (skip), or the run stops (error). No split
    # keeps it: a scored grey-filled face is as wrong as a learned one.
    on_damaged: str = "skip"
    cache_dir: Optional[str] = None  # cache aligned crops there (data/crop_cache.py)
    workers: int = 2
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def bad_choice(data: DataConfig) -> Optional[Tuple[str, str]]:
    """``("data.KEY", "data.KEY must be one of [...], got 'x'")`` for the first choice out of
    range (``format`` and :data:`CHOICES`), else None."""
    from .formats import FORMATS  # its readers load OpenCV, which config.py must not at import

    for key, allowed in {"format": tuple(sorted(FORMATS)), **CHOICES}.items():
        value = getattr(data, key)
        if value not in allowed:
            return f"data.{key}", f"data.{key} must be one of {list(allowed)}, got {value!r}"
    return None


def check_choices(data: DataConfig) -> None:
    """Raise :class:`UserError` naming the first choice of ``data`` out of range."""
    problem = bad_choice(data)
    if problem:
        raise UserError(problem[1])
