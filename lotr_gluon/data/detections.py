"""Face detection as a preprocessing step, run once per split (``tools/detect_faces.py``).

The paper (Section 4.1, after Earp et al.) crops and aligns every image with the box and five
points the detector returns, so the network meets at training time the alignment noise it
meets in deployment. For each annotated image the detector runs once; the detection that
belongs to the annotated face is the one whose five points are nearest the five points of the
ground-truth landmarks, accepted when they are within ``MATCH_DISTANCE`` of the landmarks' box
size. One JSON line per image goes to ``SPLIT.jsonl``: the matched box, five points and score,
or why none matched. The file is appended image by image, so an interrupted run resumes where
it stopped (a torn last line is detected anew).
"""
from __future__ import annotations

import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..metrics import normaliser
from .detector import Face
from .landmarks import LandmarkSchema
from .samples import Sample

MATCH_DISTANCE = 0.25  # mean five-point distance / sqrt(w * h) of the landmarks' box


def match_detection(faces: Sequence[Face], landmarks: np.ndarray, schema: LandmarkSchema
                    ) -> Tuple[Optional[Face], str]:
    """The detection of the annotated face, or None and why."""
    if not faces:
        return None, "no face detected"
    truth = schema.five_point(landmarks)
    size = max(float(normaliser(np.asarray(landmarks)[None])[0]), 1e-6)
    distances = [np.linalg.norm(face.five_points - truth, axis=1).mean() / size
                 for face in faces]
    best = int(np.argmin(distances))
    if distances[best] > MATCH_DISTANCE:
        return None, (f"{len(faces)} face(s) detected, the nearest {distances[best]:.2f} box "
                      f"sizes from the annotated face's five points")
    return faces[best], f"five points {distances[best]:.3f} box sizes from the annotation"


def read_detections(path: str) -> Dict[str, dict]:
    """``image path -> record`` from a ``SPLIT.jsonl`` (a torn last line is left out)."""
    records: Dict[str, dict] = {}
    if not os.path.isfile(path):
        return records
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # an interrupted write; that image is detected again
            records[record["image"]] = record
    return records


def _record(key: str, face: Optional[Face], reason: str) -> dict:
    record = {"image": key, "matched": face is not None, "reason": reason}
    if face is not None:
        record.update(box=[round(float(v), 3) for v in face.box], score=round(face.score, 5),
                      five_points=np.round(face.five_points, 3).tolist())
    return record


def detect_split(samples: Sequence[Sample], read_image: Callable[[str], np.ndarray],
                 detector: Callable[[np.ndarray], List[Face]], schema: LandmarkSchema,
                 path: str, progress: bool = True, root: Optional[str] = None
                 ) -> Dict[str, dict]:
    """Detect and match every sample not yet in ``path``; returns all records, keyed by image
    path relative to ``root`` (the split folder, so the dataset can move) when given."""
    from tqdm import tqdm

    key = (lambda s: os.path.relpath(s.image_path, root)) if root else (  # noqa: E731
        lambda s: s.image_path)
    done = read_detections(path)
    todo = [s for s in samples if key(s) not in done]
    if done and todo and os.path.getsize(path):
        with open(path, "rb") as f:  # a torn last line: start the next record on a new line
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        if torn:
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        for sample in tqdm(todo, desc=os.path.basename(path), unit="image",
                           disable=None if progress else True):
            face, reason = match_detection(detector(read_image(sample.image_path)),
                                           sample.landmarks, schema)
            record = _record(key(sample), face, reason)
            out.write(json.dumps(record) + "\n")
            out.flush()
            done[record["image"]] = record
    return done
