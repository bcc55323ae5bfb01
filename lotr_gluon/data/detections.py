"""Face detection as a preprocessing step, run once per split (``tools/detect_faces.py``).

The paper (Section 4.1, after Earp et al.) crops and aligns every image with the box and five
points the detector returns, so the network meets at training time the alignment noise it
meets in deployment. For each annotated image the detector runs once; the detection that
belongs to the annotated face is the one whose five points are nearest the five points of the
ground-truth landmarks, accepted when they are within ``MATCH_DISTANCE`` of the landmarks' box
size. One JSON line per image goes to ``SPLIT.jsonl``: the matched box, five points and score,
or why none matched. The file is appended image by image, so an interrupted run resumes where
it stopped (a torn last line is detected anew).

A dataset opened with ``align_source="detector"`` (:func:`align_by_detections`) then aligns
each face from its detection. A face the detector missed is aligned from its ground-truth five
points (``on_miss="ground_truth"``, as Earp et al. fall back to the annotation) or, for a
training split only, left out (``on_miss="skip"``); either way the count is reported, and the
evaluation splits keep every face so that scores stay comparable.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError
from ..fileio import append_json_lines, read_json_lines
from ..metrics import normaliser
from .detector import Face
from .landmarks import LandmarkSchema
from .samples import DatasetError, Sample

MATCH_DISTANCE = 0.25  # mean five-point distance / sqrt(w * h) of the landmarks' box


def match_detection(faces: Sequence[Face], landmarks: np.ndarray, schema: LandmarkSchema
                    ) -> Tuple[Optional[Face], str]:
    """The detection of the annotated face, or None and why."""
    if not faces:
        return None, "no face detected"
    truth = schema.five_point(landmarks)
    if not np.isfinite(truth).all():
        return None, "an alignment point of the annotated face is not labelled"
    size = max(float(normaliser(np.asarray(landmarks)[None])[0]), 1e-6)
    distances = [np.linalg.norm(face.five_points - truth, axis=1).mean() / size
                 for face in faces]
    best = int(np.argmin(distances))
    if distances[best] > MATCH_DISTANCE:
        return None, (f"{len(faces)} face(s) detected, the nearest {distances[best]:.2f} box "
                      f"sizes from the annotated face's five points")
    return faces[best], f"five points {distances[best]:.3f} box sizes from the annotation"


def read_detections(path: str) -> Dict[str, dict]:
    """``image path -> record`` from a ``SPLIT.jsonl`` (a torn last line is left out: that
    image is detected again)."""
    return {record["image"]: record for record in read_json_lines(path)}


def _record(key: str, face: Optional[Face], reason: str, detector: str = "") -> dict:
    record = {"image": key, "matched": face is not None, "reason": reason}
    if detector:
        record["detector"] = detector
    if face is not None:
        record.update(box=[round(float(v), 3) for v in face.box], score=round(face.score, 5),
                      five_points=np.round(face.five_points, 3).tolist())
    return record


def _detect_chunk(detector: Callable[[np.ndarray], List[Face]],
                  read_image: Callable[[str], np.ndarray], schema: LandmarkSchema,
                  name: str, chunk: Sequence[Tuple[str, Sample]]) -> List[dict]:
    """Records of ``(key, sample)`` pairs (run in a worker process: one detector per chunk)."""
    records = []
    for key, sample in chunk:
        try:
            image = read_image(sample.image_path)
        except DatasetError as err:  # listed with the misses, the run goes on
            records.append(_record(key, None, err.message, name))
            continue
        face, reason = match_detection(detector(image), sample.landmarks, schema)
        records.append(_record(key, face, reason, name))
    return records


def detect_split(samples: Sequence[Sample], read_image: Callable[[str], np.ndarray],
                 detector: Callable[[np.ndarray], List[Face]], schema: LandmarkSchema,
                 path: str, progress: bool = True, root: Optional[str] = None,
                 workers: int = 0, chunk_size: int = 32, name: str = "") -> Dict[str, dict]:
    """Detect and match every sample not yet in ``path``; returns all records, keyed by image
    path relative to ``root`` (the split folder, so the dataset can move) when given.
    ``name`` (the detector's description) goes into each record.

    ``workers > 0`` detects in that many processes, ``chunk_size`` images at a time; the
    detector must then pickle (:class:`.detector.LazyDetector` does, building the network in
    each process).
    """
    from functools import partial
    from multiprocessing import get_context

    from tqdm import tqdm

    key = (lambda s: os.path.relpath(s.image_path, root)) if root else (  # noqa: E731
        lambda s: s.image_path)
    done = read_detections(path)
    other = next((r["detector"] for r in done.values() if name and r.get("detector", name) != name),
                 None)
    if other is not None:  # resuming would mix two detectors' faces in one file
        raise UserError(f"{path}: written by another detector ({other}, not {name}); remove it "
                        f"to detect again, or pass --out FOLDER to keep both")
    todo = [(key(s), s) for s in samples if key(s) not in done]
    chunks = [todo[i:i + chunk_size] for i in range(0, len(todo), chunk_size)]
    work = partial(_detect_chunk, detector, read_image, schema, name)
    pool = get_context("spawn").Pool(workers) if workers > 0 and len(chunks) > 1 else None
    try:
        results = pool.imap_unordered(work, chunks) if pool else map(work, chunks)
        with append_json_lines(path) as out, tqdm(
                total=len(todo), desc=os.path.basename(path), unit="image",
                disable=None if progress else True) as bar:
            for records in results:
                for record in records:
                    out.write(json.dumps(record) + "\n")
                    done[record["image"]] = record
                out.flush()
                bar.update(len(records))
    finally:
        if pool is not None:
            pool.terminate()
    return done


def detections_file(split_path: str, folder: Optional[str] = None) -> str:
    """Where ``tools/detect_faces.py`` keeps a split's detections: ``FOLDER/SPLIT.jsonl``, with
    ``FOLDER`` defaulting to ``detections/`` beside the split (its default ``--out``)."""
    split_path = os.path.normpath(split_path)
    folder = folder or os.path.join(os.path.dirname(split_path), "detections")
    return os.path.join(folder, os.path.basename(split_path) + ".jsonl")


def records_root(split_path: str) -> str:
    """The folder that record keys (image paths) are relative to: the split's folder, or the
    folder of a split that is a file (WFLW's annotation lists)."""
    split_path = os.path.normpath(split_path)
    return split_path if os.path.isdir(split_path) else os.path.dirname(split_path)


@dataclass(frozen=True)
class AlignmentSummary:
    """How a split's faces were aligned (written to the run folder and the evaluation)."""

    source: str  # ground_truth or detector
    faces: int  # in the dataset after the policy
    detected: int  # aligned from their detection
    fallback: int  # missed by the detector, aligned from the ground truth
    skipped: int  # missed by the detector and left out (training only)
    detections: Optional[str] = None  # the SPLIT.jsonl read

    @classmethod
    def ground_truth(cls, faces: int) -> "AlignmentSummary":
        """Every face aligned from its annotation."""
        return cls("ground_truth", faces, 0, 0, 0)

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        if self.source == "ground_truth":
            return f"{self.faces} faces aligned from their ground-truth five points"
        text = f"{self.detected} of {self.faces + self.skipped} faces aligned by the detector"
        if self.fallback:
            text += f", {self.fallback} it missed aligned from the ground truth"
        if self.skipped:
            text += f", {self.skipped} it missed left out"
        return text + (f" ({self.detections})" if self.detections else "")


def _parse_record(record: dict, where: str) -> Tuple[Tuple[float, ...], np.ndarray]:
    try:
        box = tuple(float(v) for v in record["box"])
        five = np.asarray(record["five_points"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise DatasetError(where, f"record of {record.get('image')!r} is matched but has no "
                                  f"valid box and five_points") from None
    if len(box) != 4 or five.shape != (5, 2) or not np.all(np.isfinite(five)):
        raise DatasetError(where, f"record of {record.get('image')!r}: expected a 4-number box "
                                  f"and 5 finite points")
    return box, five


def align_by_detections(samples: Sequence[Sample], split_path: str,
                        folder: Optional[str] = None, on_miss: str = "ground_truth"
                        ) -> Tuple[List[Sample], AlignmentSummary]:
    """Give each sample its detection's box and five points (what the cropper aligns from).

    Parameters
    ----------
    samples : sequence of Sample
        The split, as its reader scanned it.
    split_path : str
        The split's folder (records are keyed by image path relative to it).
    folder : str, optional
        Where ``SPLIT.jsonl`` is (default: ``detections/`` beside the split).
    on_miss : str
        ``ground_truth``: a face the detector missed keeps the ground-truth alignment;
        ``skip``: it is left out (meant for training splits). The choice is checked where
        it is made (:func:`.data_config.check_choices`).
    """
    path = detections_file(split_path, folder)
    split = os.path.normpath(split_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no face detections for {split}; run python tools/detect_faces.py "
            f"--data {os.path.dirname(split) or '.'} --splits {os.path.basename(split)}"
            f"{'' if folder is None else ' --out ' + folder} (or set "
            f"data.align_source=ground_truth to align from the annotation)")
    records = read_detections(path)
    root = records_root(split)
    keys = [os.path.relpath(s.image_path, root) for s in samples]
    if len(set(keys)) < len(keys):
        twice = next(k for k in keys if keys.count(k) > 1)
        raise DatasetError(path, f"a detection record is kept a photo, and {twice} has several "
                                 f"annotated faces: align such a set from its annotation "
                                 f"(data.align_source=ground_truth)")
    absent = [k for k in keys if k not in records]
    if absent:
        raise DatasetError(path, f"{len(absent)} of {len(samples)} images have no record "
                                 f"(first {absent[0]}); run tools/detect_faces.py again: it "
                                 f"detects only what is missing")
    kept: List[Sample] = []
    fallback = skipped = 0
    for sample, key in zip(samples, keys):
        record = records[key]
        if record.get("matched"):
            box, five = _parse_record(record, path)
            kept.append(replace(sample, rect=box, five_points=five))
        elif on_miss == "skip":
            skipped += 1
        else:
            kept.append(sample)
            fallback += 1
    summary = AlignmentSummary("detector", len(kept), len(kept) - fallback, fallback, skipped,
                               path)
    return kept, summary
