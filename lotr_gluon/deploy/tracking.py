"""Landmarks on a video stream: landmark-driven tracking and One-Euro smoothing.

Per-frame detection costs more than the landmark network (MTCNN ~56 ms per 640x480 frame on
2 cores, LOTR-M ~5 ms) and its five points jitter from frame to frame. :class:`FaceTracker`
runs the detector on the first frame, every ``detect_every`` frames and whenever a face is
lost, and otherwise aligns each face of frame t from the five points of its landmarks in
frame t-1, which is how the network's training crops were aligned (from landmarks, not from a
detector), extrapolated at constant velocity. A face is judged lost when the network's
answers on its crop and on the mirrored crop disagree (a crop without an aligned face), when
its five points in the crop are far from the alignment template, or when most landmarks
leave the frame. Faces keep their id while tracked; a detection overlapping a tracked face
(IoU of the boxes) is that face, not a new one.

:class:`OneEuroFilter` (Casiez et al., CHI 2012) smooths each face's coordinates: a low-pass
filter whose cutoff rises with the speed, so a still face stops jittering and a moving one
does not lag.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ..data.align import invert, points_box, transform_points
from .predictor import FaceLandmarks, Predictor

# Chosen on synthetic trajectory videos (README, "Video"; tools/benchmark.py --video): with
# min_cutoff 1 Hz, beta 0.05 took the tracked landmarks' jitter below per-frame detection's
# (2.44% vs 2.76%) at +0.7 points of NME over tracking alone; beta 0.2 lagged less (+0.07) but
# left the jitter at per-frame level (2.86%). The faces there move fast: lag costs accuracy.
DEFAULT_MIN_CUTOFF = 1.0  # Hz
DEFAULT_BETA = 0.05  # Hz per (px/s)
LOST_DISTANCE = 0.12  # mean five-point distance from the template, in crop widths
MAX_DISAGREEMENT = 0.04  # plain vs mirrored prediction, mean distance in crop widths
MATCH_IOU = 0.3  # a detection overlapping a track's box by more is that track's face
# A matched track whose five points are further than this from the detection's (mean
# distance over the detection box's size) is re-aligned from the detection.
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
            raise ValueError("the One-Euro filter needs min_cutoff > 0, d_cutoff > 0, beta >= 0")
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
    five_points: np.ndarray  # where to align the next frame from (photo pixels)
    box: np.ndarray
    score: float
    smoother: Optional[OneEuroFilter] = None
    velocity: Optional[np.ndarray] = None  # five points' motion over the last frame
    seeded: bool = True  # five_points are the detector's this frame: no motion to measure

    def expected_five_points(self) -> np.ndarray:
        """Where the five points should be in the next frame, at constant velocity."""
        return self.five_points if self.velocity is None else self.five_points + self.velocity


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
        nothing to track from; use the predictor on each frame instead).
    detect_every : int
        Run the detector every this many frames (and on the first, and whenever a face is
        lost); 1 detects on every frame and only keeps identities.
    smoothing : bool
        One-Euro smoothing of each face's landmarks with ``min_cutoff`` and ``beta``.
    fps : float
        The stream's frame rate, for frames given without a time.
    """

    def __init__(self, predictor: Predictor, detect_every: int = 30, smoothing: bool = True,
                 min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA,
                 lost_distance: float = LOST_DISTANCE,
                 max_disagreement: float = MAX_DISAGREEMENT, fps: float = DEFAULT_FPS):
        if predictor.align_mode != "five_point":
            raise ValueError("tracking needs a five-point aligned model; this one crops "
                             "around the detector's box (data.align=bbox)")
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        OneEuroFilter(min_cutoff, beta)  # refuses bad smoothing parameters now, not mid-video
        self.predictor, self.detect_every = predictor, detect_every
        self.smoothing, self.min_cutoff, self.beta = smoothing, min_cutoff, beta
        self.lost_distance = lost_distance
        self.max_disagreement = max_disagreement
        self.fps = fps
        self.schema = predictor.schema
        self.tracks: List[_Track] = []
        self.frame_index, self._next_id = -1, 0
        self.detector_runs = 0

    def __call__(self, image: np.ndarray, t: Optional[float] = None) -> List[TrackedFace]:
        """Landmarks of every tracked face in ``image``, by id; ``t`` (seconds) drives the
        smoothing, by default the frame index over ``fps``."""
        self.frame_index += 1
        t = self.frame_index / self.fps if t is None else t
        detected = not self.tracks or self.frame_index % self.detect_every == 0
        fresh = self._detect(image) if detected else []
        faces, lost = self._predict(image, list(self.tracks), t, detected, fresh)
        self.tracks = [track for track in self.tracks if track not in lost]
        if lost and not detected:  # look again in this very frame
            fresh = self._detect(image)
            found, lost = self._predict(image, fresh, t, True, fresh)
            faces += found  # fresh tracks are never lost: the detector vouches for them
        return sorted(faces, key=lambda face: face.face_id)

    def _detect(self, image: np.ndarray) -> List[_Track]:
        """Check the tracks against a detection: a track whose five points disagree with the
        detection it overlaps is re-aligned from it, and detections that overlap no track start
        new ones (returned). A track the detector misses is kept: detectors miss faces in
        single frames (MTCNN did on the trajectory videos), and a lost track is caught by
        the flip check in :meth:`_predict`."""
        self.detector_runs += 1
        detections = self.predictor.detector(image)
        claimed = set()
        for track in self.tracks:
            overlaps = [_iou(face.box, track.box) for face in detections]
            best = int(np.argmax(overlaps)) if overlaps else -1
            if best < 0 or overlaps[best] <= MATCH_IOU or best in claimed:
                continue
            claimed.add(best)
            face = detections[best]
            size = np.sqrt(max(np.prod(face.box[2:] - face.box[:2]), 1.0))
            distance = np.linalg.norm(track.five_points - face.five_points, axis=1).mean() / size
            if distance > REALIGN_DISTANCE:
                track.five_points, track.velocity, track.seeded = face.five_points, None, True
        new = [_Track(self._next_id + i, face.five_points, face.box, face.score)
               for i, face in enumerate(f for j, f in enumerate(detections) if j not in claimed)]
        self._next_id += len(new)
        self.tracks += new
        return new

    def _predict(self, image: np.ndarray, tracks: List[_Track], t: float, detected: bool,
                 fresh: List[_Track]):
        """One batch for ``tracks``: the faces of those still on a face, and the tracks that
        lost theirs (the caller drops them). ``fresh`` tracks were just detected: the detector
        vouches for them this frame."""
        if not tracks:
            return [], []
        crops, matrices = zip(*(self.predictor.crop_at(image, track.expected_five_points())
                                for track in tracks))
        plain, averaged = self.predictor.predict_crops_and_mirrors(np.stack(crops))
        # The mirrored crop's answer, mapped back, should agree with the plain one on a face.
        disagreement = (2 * np.linalg.norm(plain - averaged, axis=-1).mean(axis=-1)
                        / self.predictor.input_size)
        faces, lost = [], []
        for track, crop_points, matrix, differ in zip(
                tracks, averaged if self.predictor.flip else plain, matrices, disagreement):
            points = transform_points(crop_points, invert(matrix))
            if track not in fresh and (differ > self.max_disagreement
                                       or self._lost(crop_points, points, image.shape)):
                lost.append(track)
                continue
            five = self.schema.five_point(points)
            track.velocity = None if track.seeded else five - track.five_points
            track.five_points, track.seeded = five, False
            if self.smoothing:
                track.smoother = track.smoother or OneEuroFilter(self.min_cutoff, self.beta)
                points = track.smoother(points, t)
            track.box = points_box(points)
            faces.append(TrackedFace(track.box, track.score, points, face_id=track.face_id,
                                     detected=detected))
        return faces, lost

    def _lost(self, crop_points: np.ndarray, photo_points: np.ndarray, shape) -> bool:
        """The crop no longer holds an aligned face, or most points left the frame."""
        five = self.schema.five_point(crop_points)
        distance = np.linalg.norm(five - self.predictor.template, axis=1).mean()
        return (distance / self.predictor.input_size > self.lost_distance
                or share_in_frame(photo_points, shape[1], shape[0]) < 0.5)
