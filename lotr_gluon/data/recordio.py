"""MXNet RecordIO packs of aligned faces: one sequential file per split instead of many photos.

``tools/pack_rec.py`` warps each photo once into its aligned canvas (the crop centred in a
square twice its size, see ``FaceCropper.canvas_matrix``), JPEG-encodes it and stores it in
``SPLIT.rec`` with an ``SPLIT.idx`` index; the record header carries the landmarks, the face
box (if any) and the detector's five points (when packed from detections) in canvas pixels.
``SPLIT.json`` says what was packed. Training then reads the pack as dataset format
``<schema>_rec`` (e.g. ``jd106_rec``): augmentation still runs per epoch on the canvas, and
the five-point alignment recovers the same crop from the landmarks (or the detector's points).

Images are addressed as ``PATH.rec#KEY`` and read by :class:`RecordImageReader`.
"""
from __future__ import annotations

import json
import os
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..fileio import atomic_path, atomic_write_text
from .align import transform_points, warp
from .image_file import decode_image
from .samples import DatasetError, Problem, Sample
from .transforms import FaceCropper


def _paths(prefix: str) -> Tuple[str, str, str]:
    base = prefix[:-4] if prefix.endswith(".rec") else prefix
    return base + ".rec", base + ".idx", base + ".json"


def pack_split(samples: List[Sample], cropper: FaceCropper, prefix: str, schema: str,
               read_image: Callable[[str], np.ndarray], quality: int = 95,
               progress: bool = True) -> int:
    """Write ``prefix.rec/.idx/.json`` from ``samples``; returns the number packed."""
    import mxnet as mx
    from tqdm import tqdm

    rec, idx, meta = _paths(prefix)
    os.makedirs(os.path.dirname(os.path.abspath(rec)), exist_ok=True)
    size = cropper.canvas_size
    with atomic_path(rec) as tmp_rec, atomic_path(idx) as tmp_idx:
        writer = mx.recordio.MXIndexedRecordIO(tmp_idx, tmp_rec, "w")
        for key, sample in enumerate(tqdm(samples, desc=os.path.basename(rec), unit="face",
                                          disable=None if progress else True)):
            matrix = cropper.canvas_matrix(sample.landmarks, sample.rect, sample.five_points)
            canvas = warp(read_image(sample.image_path), matrix, size)
            ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise DatasetError(sample.image_path, "could not encode the aligned face")
            box = (np.full(4, np.nan) if sample.rect is None else
                   transform_points(np.reshape(sample.rect, (2, 2)), matrix).ravel())
            five = (np.full(10, np.nan) if sample.five_points is None else
                    transform_points(sample.five_points, matrix).ravel())
            label = np.concatenate([transform_points(sample.landmarks, matrix).ravel(), box,
                                    five])
            header = mx.recordio.IRHeader(0, label.astype(np.float32), key, 0)
            writer.write_idx(key, mx.recordio.pack(header, encoded.tobytes()))
        writer.close()
    atomic_write_text(meta, json.dumps({
        "schema": schema, "num_points": int(samples[0].landmarks.shape[0]),
        "count": len(samples), "canvas_size": size, "crop_size": cropper.crop.input_size,
        "align": cropper.crop.align, "face_fraction": cropper.crop.face_fraction,
        "detected": sum(s.five_points is not None for s in samples),
        "jpeg_quality": quality}, indent=1) + "\n")
    return len(samples)


def scan(prefix: str, num_points: Optional[int] = None, decode: bool = False
         ) -> Tuple[List[Sample], List[Problem]]:
    """The samples of a pack (landmarks from the record headers; no image is decoded)."""
    import mxnet as mx

    rec, idx, meta = _paths(prefix)
    for path in (rec, idx, meta):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: missing; pack the split with tools/pack_rec.py")
    with open(meta, encoding="utf-8") as f:
        info = json.load(f)
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    samples, problems = [], []
    try:
        for key in sorted(reader.keys):
            header, payload = mx.recordio.unpack(reader.read_idx(key))
            label = np.asarray(header.label, dtype=np.float64)
            points = label[:2 * info["num_points"]].reshape(-1, 2)
            box = label[2 * info["num_points"]:2 * info["num_points"] + 4]
            five = label[2 * info["num_points"] + 4:].reshape(-1, 2)  # packs before: none
            address = f"{rec}#{key}"
            if not np.all(np.isfinite(points)):
                problems.append(Problem(address, "non-finite landmark in the record"))
                continue
            if decode:
                try:
                    decode_image(payload, address)
                except DatasetError as err:
                    problems.append(Problem.from_error(err))
                    continue
            rect = tuple(box) if box.size == 4 and np.all(np.isfinite(box)) else None
            detected = five if five.shape == (5, 2) and np.all(np.isfinite(five)) else None
            samples.append(Sample(address, points, rect, detected))
    finally:
        reader.close()
    return samples, problems


class RecordImageReader:
    """Reads ``PATH.rec#KEY`` addresses; each process (loader worker) opens its own files."""

    def __init__(self):
        self._open: Dict[Tuple[int, str], object] = {}

    def __getstate__(self):  # file handles do not cross process boundaries
        return {"_open": {}}

    def __call__(self, address: str) -> np.ndarray:
        import mxnet as mx

        rec, _, key = address.rpartition("#")
        handle = (os.getpid(), rec)
        if handle not in self._open:
            self._open[handle] = mx.recordio.MXIndexedRecordIO(_paths(rec)[1], rec, "r")
        _, payload = mx.recordio.unpack(self._open[handle].read_idx(int(key)))
        return decode_image(payload, address)
