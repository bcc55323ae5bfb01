"""A disk cache of aligned face canvases, so epochs after the first skip decoding the photos.

Each sample's photo is warped once into a canvas (the aligned crop centred in a square twice
its size, see ``FaceCropper.canvas_matrix``) and stored raw as ``.npy`` (442 KB per face at
192 px: PNG halves that but decodes slower than the photos it replaces). Later epochs read
the small canvas instead of the full photo and augment from it; landmarks still come from
the annotation, so targets are exact. The pixels go through two bilinear resamplings instead
of one, which is the only difference from the uncached path.

The cache folder is keyed by the photos and by each one's photo-to-canvas map (which holds the
points it is aligned from, annotated or detected, and every crop setting), so a change to any
of them, a re-exported annotation too, starts a new cache instead of reading stale crops.
Files are written atomically: several loader workers may fill the cache at once.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Callable, Sequence, Tuple

import numpy as np

from ..fileio import atomic_path
from .align import warp
from .samples import Sample
from .transforms import FaceCropper


class CropCache:
    """Canvases of ``samples`` under ``folder/<key>/``.

    Parameters
    ----------
    folder : str
        Where caches live (one subfolder per dataset and crop setting).
    samples : sequence of Sample
        The dataset's samples, in order.
    cropper : FaceCropper
        Gives the crop size, alignment mode and face fraction.
    """

    def __init__(self, folder: str, samples: Sequence[Sample], cropper: FaceCropper):
        maps = [np.round(cropper.canvas_matrix(s.landmarks, s.rect, s.five_points), 4).tolist()
                for s in samples]
        key = json.dumps({"images": [s.image_path for s in samples], "canvas_maps": maps,
                          "crop": cropper.crop.input_size, "align": cropper.crop.align},
                         sort_keys=True)
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        crop = cropper.crop
        self.folder = os.path.join(folder, f"{crop.input_size}px-{crop.align}-{digest}")
        self.cropper = cropper

    def path(self, index: int) -> str:
        return os.path.join(self.folder, f"{index:07d}.npy")

    def load(self, index: int, sample: Sample, read_photo: Callable[[int], np.ndarray]
             ) -> Tuple[np.ndarray, np.ndarray]:
        """``(canvas BGR uint8, photo-to-canvas 2x3 map)``, making the canvas on first use."""
        matrix = self.cropper.canvas_matrix(sample.landmarks, sample.rect, sample.five_points)
        path = self.path(index)
        canvas = None
        if os.path.isfile(path):
            try:
                canvas = np.load(path)
            except (OSError, ValueError):  # a damaged file: rebuild it below
                canvas = None
        if canvas is None:
            canvas = warp(read_photo(index), matrix, self.cropper.canvas_size)
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, canvas)
        return canvas, matrix
