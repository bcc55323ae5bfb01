"""Landmarks on a video stream: landmark-driven tracking and One-Euro smoothing.

Per-frame detection costs more than the landmark network (docs/benchmarks.md) and its five
points are off by a few percent of the face, differently on every frame.
:class:`FaceTracker` runs the detector on the first frame, every ``detect_every`` frames,
whenever a face is lost, and on the frame after it placed a face (so a new face's motion is
measured); in between it cuts each face's crop from the
landmarks the network found in the previous frame, the way training crops are cut (a
similarity from five points to the template), moved on by the face's motion over the last
frames (a similarity per frame, smoothed).

A face is lost when it is found further than ``max_shift`` of the crop width from where its
crop was cut (the network pulls a face that is far off its crop only part of the way back),
when its five points in the crop are far from the template, or when most landmarks leave the
frame; with flip test-time augmentation (``Predictor(flip=True)``) each crop also runs beside
its mirror, the tracker reports their average, and a face is lost when the two answers
differ by more than ``max_disagreement`` of the crop width. The detector then looks again in
that very frame, and a detection overlapping the lost face (IoU of the boxes) re-seeds it
with its id and motion. Faces keep their id while tracked.

:class:`OneEuroFilter` (Casiez et al., CHI 2012) optionally smooths each face's coordinates: a
low-pass filter whose cutoff rises with the speed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Set

import numpy as np

from ..data.align import compose, invert, points_box, transform_points
from ..errors import UserError
from .predictor import FaceLandmarks, Predictor

# Each value below was chosen on the trajectory videos of ``tools/benchmark.py --video``, one
# choice varied at a time; the measurements are in docs/benchmarks.md (video).
# One-Euro: a lower cutoff steadies a still face, a higher beta lags less behind a moving one.
DEFAULT_MIN_CUTOFF = 1.0  # Hz
DEFAULT_BETA = 1.0  # Hz per (px/s)
LOST_DISTANCE = 0.12  # mean five-point distance from the template, in crop widths
# Plain vs mirrored answer (with flip), mean distance in crop widths, above which a face is
# lost: a crop lagging a face that sped up disagrees with its mirror more than a tracked one.
MAX_DISAGREEMENT = 0.02
# ... or found further than this from where its crop was cut (crop widths): the network pulls
# a face that is far off its crop only part of the way back, so a crop lagging a face that
# sped up is caught here before the mirror disagrees. Without flip it is the only check that
# catches a lagging crop: at 2.5% whether and when it fired hung on float-level differences
# (tracking NME 1.6-2.5% on the same videos), at 1.5% not (docs/benchmarks.md, tracker design).
MAX_SHIFT = 0.015
# Weight of the latest frame's motion in the smoothed motion (1: raw per-frame motion).
MOTION_SMOOTHING = 0.5
MATCH_IOU = 0.3  # a detection overlapping a track's box by more is that track's face
# A matched track whose five points are further than this from the detection's (mean
# distance over the detection box's size) is re-seeded from the detection.
REALIGN_DISTANCE = 0.15
DEFAULT_FPS = 30.0  # frame times when the caller gives none


class OneEuroFilter:
    """The One-Euro filter on an array of any shape (each element filtered on its own).

    Parameters
    ----------
    min_cutoff : float
        Cutoff frequency (Hz) at rest: lower removes more jitter from a still face.
    beta : float
        How fast the cutoff rises with the speed (per unit of the signal per second): higher
        follows fast motion with less lag.
    d_cutoff : float
        Cutoff (Hz) of the speed estimate.
    """

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA,
                 d_cutoff: float = 1.0):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise UserError("the One-Euro filter needs min_cutoff > 0, d_cutoff > 0, beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: Optional[np.ndarray] = None
        self._dx: Optional[np.ndarray] = None
        self._t: Optional[float] = None

    @staticmethod
    def _alpha(cutoff, dt: float):
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        a_d = self._alpha(self.d_cutoff, dt)
        self._dx = a_d * (x - self._x) / dt + (1 - a_d) * self._dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx), dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()


@dataclass(frozen=True)
class TrackedFace(FaceLandmarks):
    """:class:`FaceLandmarks` with the track's id and whether this frame ran the detector."""

    face_id: int = 0
    detected: bool = False

    def to_dict(self) -> dict:
        return {"id": self.face_id, **super().to_dict(), "detected": self.detected}


@dataclass(eq=False)  # compared by identity
class _Track:
    face_id: int
    matrix: np.ndarray  # photo -> crop map to cut this face's next crop with
    box: np.ndarray
    score: float
    smoother: Optional[OneEuroFilter] = None
    fitted: Optional[np.ndarray] = None  # photo -> crop map fitted to the latest landmarks
    fitted_at: int = -2  # the frame of ``fitted``
    motion: Optional[np.ndarray] = None  # smoothed crop -> crop map from one frame to the next
    seeded_at: int = 0  # the last frame the detector placed this face's crop


def share_in_frame(points: np.ndarray, width: int, height: int) -> float:
    """The share of ``(N, 2)`` points inside a ``width x height`` frame."""
    return float(((points[:, 0] >= 0) & (points[:, 0] < width)
                  & (points[:, 1] >= 0) & (points[:, 1] < height)).mean())


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """Landmarks for each frame of a stream, tracking faces between detections.

    Parameters
    ----------
    predictor : Predictor
        Detector, network and alignment (five-point models only: a box-aligned model has
        nothing to track from; use the predictor on each frame instead). With
        ``predictor.flip`` each crop runs beside its mirror: their average is reported and
        their disagreement is one more sign of a lost face.
    detect_every : int
        Run the detector every this many frames (and on the first, whenever a face is lost,
        and on the frame after it placed a face); 1 detects on every frame and only keeps
        identities.
    smoothing : bool
        One-Euro smoothing of each face's landmarks with ``min_cutoff`` and ``beta``.
    fps : float
        The stream's frame rate, for frames given without a time.
    """

    def __init__(self, predictor: Predictor, detect_every: int = 30, smoothing: bool = True,
                 min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA,
                 lost_distance: float = LOST_DISTANCE,
                 max_disagreement: float = MAX_DISAGREEMENT, max_shift: float = MAX_SHIFT,
                 fps: float = DEFAULT_FPS):
        if predictor.crop_spec.align != "five_point":
            raise UserError("tracking needs a five-point aligned model; this one crops "
                             "around the detector's box (data.align=bbox)")
        if detect_every < 1:
            raise UserError(f"detect_every must be at least 1, got {detect_every}")
        if not fps > 0:
            raise UserError(f"fps must be positive, got {fps}")
        OneEuroFilter(min_cutoff, beta)  # refuses bad smoothing parameters now, not mid-video
        self.predictor, self.detect_every = predictor, detect_every
        self.smoothing, self.min_cutoff, self.beta = smoothing, min_cutoff, beta
        self.lost_distance = lost_distance
        self.max_disagreement, self.max_shift = max_disagreement, max_shift
        self.fps = fps
        self.schema = predictor.schema
        self.crop = predictor.crop_spec  # the tracker cuts its crops by the model's own rule
        self.template = self.crop.template
        self.tracks: List[_Track] = []
        self.frame_index, self._next_id = -1, 0
        self.detector_runs = 0

    def __call__(self, image: np.ndarray, t: Optional[float] = None) -> List[TrackedFace]:
        """Landmarks of every tracked face in ``image``, by id; ``t`` (seconds) drives the
        smoothing, by default the frame index over ``fps``."""
        self.frame_index += 1
        t = self.frame_index / self.fps if t is None else t
        # A face the detector placed in the last frame is checked again: its motion is not
        # known yet (a new face), or no longer (it had slid off its crop).
        detected = (not self.tracks or self.frame_index % self.detect_every == 0
                    or any(track.seeded_at == self.frame_index - 1 for track in self.tracks))
        detections = self._detect(image) if detected else None
        seeded = self._match(detections, []) if detected else set()
        faces, lost = self._predict(image, self.tracks, t, detected, seeded)
        if lost:  # the detector looks in this very frame (again, on a detection frame)
            detections = self._detect(image) if detections is None else detections
            seeded = self._match(detections, lost, recheck=False)
            found, _ = self._predict(image, [track for track in self.tracks if track in seeded],
                                     t, True, seeded)
            faces += found
            lost = [track for track in lost if track not in seeded]
        self.tracks = [track for track in self.tracks if track not in lost]
        return sorted(faces, key=lambda face: face.face_id)

    def _detect(self, image: np.ndarray) -> list:
        """The detector's faces in ``image``, counted."""
        self.detector_runs += 1
        return self.predictor.detector(image)

    def _match(self, detections: list, lost: List[_Track], recheck: bool = True
               ) -> Set[_Track]:
        """Match this frame's detections to the tracks (IoU of the boxes) and return the tracks
        the detector seeded: a track in ``lost`` that a detection overlaps, with ``recheck`` a
        track whose five points disagree with the detection it overlaps, and a new track for
        each detection that overlaps none. A track the detector misses is kept: detectors miss
        faces in single frames (MTCNN did on the trajectory videos), and a lost track is
        caught by the checks in :meth:`_predict`."""
        claimed, seeded = set(), set()
        for track in self.tracks:
            overlaps = [_iou(face.box, track.box) for face in detections]
            best = int(np.argmax(overlaps)) if overlaps else -1
            if best < 0 or overlaps[best] <= MATCH_IOU or best in claimed:
                continue
            claimed.add(best)
            face = detections[best]
            size = np.sqrt(max(np.prod(face.box[2:] - face.box[:2]), 1.0))
            five = transform_points(self.template, invert(track.matrix))
            distance = np.linalg.norm(five - face.five_points, axis=1).mean() / size
            if track in lost or (recheck and distance > REALIGN_DISTANCE):
                track.matrix = self.crop.matrix(five_points=face.five_points)
                track.seeded_at = self.frame_index
                seeded.add(track)
        for j, face in enumerate(detections):
            if j not in claimed:
                track = _Track(self._next_id, self.crop.matrix(five_points=face.five_points),
                               face.box, face.score, seeded_at=self.frame_index)
                self._next_id += 1
                self.tracks.append(track)
                seeded.add(track)
        return seeded

    def _predict(self, image: np.ndarray, tracks: List[_Track], t: float, detected: bool,
                 seeded: Set[_Track]):
        """One batch for ``tracks``: the faces of those still on a face, and the tracks that
        lost theirs. The detector vouches for the ``seeded`` tracks this frame."""
        if not tracks:
            return [], []
        crops = np.stack([self.crop.cut(image, track.matrix) for track in tracks])
        if self.predictor.flip:  # the average of each crop's and its mirror's answers
            plain, answers = self.predictor.predict_crops_and_mirrors(crops)
            # The mirrored crop's answer, mapped back, agrees with the plain one on an aligned
            # face.
            disagreement = (2 * np.linalg.norm(plain - answers, axis=-1).mean(axis=-1)
                            / self.crop.input_size)
        else:
            answers, disagreement = self.predictor.predict_crops(crops), np.zeros(len(tracks))
        faces, lost = [], []
        for track, crop_points, differ in zip(tracks, answers, disagreement):
            points = transform_points(crop_points, invert(track.matrix))
            fitted = self.crop.matrix(five_points=self.schema.five_point(points))
            if track not in seeded and (differ > self.max_disagreement
                                        or self._shift(track.matrix, fitted)
                                        > self.max_shift
                                        or self._lost(crop_points, points, image.shape)):
                lost.append(track)
                continue
            self._move(track, fitted)
            if self.smoothing:
                track.smoother = track.smoother or OneEuroFilter(self.min_cutoff, self.beta)
                points = track.smoother(points, t)
            track.box = points_box(points)
            faces.append(TrackedFace(track.box, track.score, points, face_id=track.face_id,
                                     detected=detected))
        return faces, lost

    def _move(self, track: _Track, fitted: np.ndarray) -> None:
        """Record the crop map fitted to this frame's landmarks and cut the next crop where the
        face will be: this frame's map moved on by the smoothed motion, measured between
        consecutive frames only (the motion over a gap, a lost frame, is not one frame's)."""
        if track.fitted_at == self.frame_index - 1:
            step = compose(fitted, invert(track.fitted))
            track.motion = (step if track.motion is None else
                            MOTION_SMOOTHING * step + (1 - MOTION_SMOOTHING) * track.motion)
        else:
            track.motion = None
        track.fitted, track.fitted_at = fitted, self.frame_index
        track.matrix = fitted if track.motion is None else compose(track.motion, fitted)

    def _shift(self, cut: np.ndarray, found: np.ndarray) -> float:
        """How far the face was found from where its crop was cut: the template's points
        under the two maps, mean distance in crop widths."""
        template = self.template
        moved = transform_points(template, compose(cut, invert(found)))
        return float(np.linalg.norm(moved - template, axis=1).mean() / self.crop.input_size)

    def _lost(self, crop_points: np.ndarray, photo_points: np.ndarray, shape) -> bool:
        """The crop no longer holds an aligned face, or most points left the frame."""
        five = self.schema.five_point(crop_points)
        distance = np.linalg.norm(five - self.template, axis=1).mean()
        return (distance / self.crop.input_size > self.lost_distance
                or share_in_frame(photo_points, shape[1], shape[0]) < 0.5)
