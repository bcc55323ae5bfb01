"""Video landmarks measured against known ground truth: a face photo moved along a smooth
trajectory (translation, rotation, scale), with blurred and noisy stretches and a stretch
where it leaves the frame and comes back; each mode's NME, jitter and frame rate.

Jitter is the frame-to-frame change of the error, ``mean_i |e_i(t) - e_i(t-1)| / d``, with
``e_i = prediction_i - truth_i`` and ``d`` the ground-truth box size of the frame: a
prediction that is wrong by a constant offset has no jitter; one that shakes around the
truth has.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..data.align import invert, transform_points
from ..deploy.predictor import Predictor
from ..deploy.tracking import FaceTracker, share_in_frame
from ..errors import UserError
from ..metrics import nme, normaliser


@dataclass
class TrajectoryVideo:
    frames: List[np.ndarray]
    truth: List[Optional[np.ndarray]]  # (N, 2) per frame; None while the face is out of view


def trajectory_video(image: np.ndarray, landmarks: np.ndarray, num_frames: int = 180,
                     size: Tuple[int, int] = (480, 360), seed: int = 0,
                     leave: Tuple[int, int] = (90, 130), blur: Tuple[int, int] = (35, 45),
                     noise: Tuple[int, int] = (60, 70)) -> TrajectoryVideo:
    """``image`` (a face photo) and its ``landmarks`` moved across a ``size`` canvas.

    The photo's centre follows slow sinusoids (about +-25% of the canvas), it rotates by up
    to +-15 degrees and scales by 0.85-1.15; frames in ``blur`` get a 7x7 Gaussian blur and
    those in ``noise`` Gaussian noise (sigma 12); during ``leave`` the face slides out past
    the right edge and back.
    """
    rng = np.random.RandomState(seed)
    width, height = size
    h, w = image.shape[:2]
    phases = rng.uniform(0, 2 * np.pi, 4)
    frames, truth = [], []
    for t in range(num_frames):
        cx = width / 2 + 0.25 * width * np.sin(2 * np.pi * t / 97 + phases[0])
        cy = height / 2 + 0.15 * height * np.sin(2 * np.pi * t / 71 + phases[1])
        if leave[0] <= t < leave[1]:  # out past the right edge and back
            half = (leave[1] - leave[0]) / 2
            cx += (1 - abs(t - leave[0] - half) / half) * width
        angle = 15 * np.sin(2 * np.pi * t / 83 + phases[2])
        scale = 1 + 0.15 * np.sin(2 * np.pi * t / 61 + phases[3])
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        matrix[:, 2] += (cx - w / 2, cy - h / 2)
        frame = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(40, 40, 40))
        if blur[0] <= t < blur[1]:
            frame = cv2.GaussianBlur(frame, (7, 7), 0)
        if noise[0] <= t < noise[1]:
            frame = np.clip(frame + rng.normal(0, 12, frame.shape), 0, 255).astype(np.uint8)
        points = transform_points(landmarks, matrix)
        frames.append(frame)
        truth.append(points if share_in_frame(points, width, height) >= 0.9 else None)
    return TrajectoryVideo(frames, truth)


def score_predictions(predictions: Sequence[Optional[np.ndarray]],
                      truth: Sequence[Optional[np.ndarray]]) -> Dict[str, float]:
    """NME (mean over frames with a face in view and a prediction), jitter (see the module
    docstring), and the share of in-view frames with no prediction."""
    errors, jitters, missed, previous = [], [], 0, None
    for pred, gt in zip(predictions, truth):
        if gt is None:
            previous = None
            continue
        if pred is None:
            missed += 1
            previous = None
            continue
        errors.append(float(nme(pred[None], gt[None])[0]))
        offset = pred - gt
        if previous is not None:
            jitters.append(float(np.linalg.norm(offset - previous, axis=1).mean()
                                 / normaliser(gt[None])[0]))
        previous = offset
    in_view = sum(gt is not None for gt in truth)
    return {"nme": float(np.mean(errors)) if errors else float("nan"),
            "jitter": float(np.mean(jitters)) if jitters else float("nan"),
            "missed": missed / max(in_view, 1)}


def _through(video: TrajectoryVideo, predict: Callable[[np.ndarray], list]
             ) -> Tuple[List[list], float]:
    """Each frame's faces from ``predict``, and the frames per second."""
    start = time.perf_counter()
    outputs = [predict(frame) for frame in video.frames]
    return outputs, len(video.frames) / (time.perf_counter() - start)


def _closest_face(faces, truth: np.ndarray):
    return min(faces, key=lambda face: np.linalg.norm(face.landmarks.mean(axis=0)
                                                      - truth.mean(axis=0)))


def run_mode(video: TrajectoryVideo, predict: Callable[[np.ndarray], list]
             ) -> Tuple[List[Optional[np.ndarray]], float]:
    """Each frame through ``predict`` (a Predictor or a FaceTracker); the landmarks of the
    face closest to the truth per frame, and the frames per second."""
    outputs, fps = _through(video, predict)
    chosen = [_closest_face(faces, gt).landmarks if gt is not None and faces else None
              for faces, gt in zip(outputs, video.truth)]
    return chosen, fps


def run_tracking(video: TrajectoryVideo, tracker: FaceTracker
                 ) -> Tuple[List[Optional[np.ndarray]], float, float]:
    """:func:`run_mode` for a tracker, and in the same pass how far each crop the tracker cut
    itself (not from the detector) is from the crop the truth's five points give: the mean
    distance between the two crops' template points in the photo, over the size of the
    truth's landmark box. The part of the tracker's error that is the crop's, not the model's
    (nan when no frame was tracked)."""
    planned: List[dict] = []

    def predict(frame: np.ndarray) -> list:
        planned.append({t.face_id: t.matrix.copy() for t in tracker.tracks})
        return tracker(frame)

    outputs, fps = _through(video, predict)
    predictor, chosen, errors = tracker.predictor, [], []
    for faces, gt, plan in zip(outputs, video.truth, planned):
        face = _closest_face(faces, gt) if gt is not None and faces else None
        chosen.append(None if face is None else face.landmarks)
        if face is None or face.detected or face.face_id not in plan:
            continue
        ideal = predictor.crop_spec.matrix(five_points=tracker.schema.five_point(gt))
        cut, wanted = (transform_points(predictor.crop_spec.template, invert(m))
                       for m in (plan[face.face_id], ideal))
        errors.append(np.linalg.norm(cut - wanted, axis=1).mean() / normaliser(gt[None])[0])
    return chosen, fps, float(np.mean(errors)) if errors else float("nan")


def truth_aligned(video: TrajectoryVideo, predictor: Predictor
                  ) -> Tuple[List[Optional[np.ndarray]], float]:
    """Each in-view frame's face cropped from the truth's own five points: the model's error
    on well-aligned crops, the floor under any alignment (detector or tracker)."""
    start, chosen = time.perf_counter(), []
    for frame, gt in zip(video.frames, video.truth):
        if gt is None:
            chosen.append(None)
            continue
        matrix = predictor.crop_spec.matrix(five_points=predictor.schema.five_point(gt))
        crop = predictor.crop_spec.cut(frame, matrix)
        chosen.append(transform_points(predictor.predict_crops(crop[None])[0], invert(matrix)))
    return chosen, len(video.frames) / (time.perf_counter() - start)


def real_face_video(photo: np.ndarray, predictor: Predictor, num_frames: int = 180,
                    seed: int = 0, context: float = 2.5) -> TrajectoryVideo:
    """The largest face of a real ``photo``, cut with its surroundings (a square ``context``
    times its box) and moved as :func:`trajectory_video` moves a labelled face.

    A real photo has no ground truth: the ``truth`` carried along is the predictor's answer
    on the still photo, a reference that moves exactly as the face does (for jitter: any
    frame-to-frame change of a prediction against it is the prediction's own), not a label.
    """
    faces = predictor(photo)
    if not faces:
        raise UserError("no face found in the real photo")
    face = max(faces, key=lambda f: np.prod(f.box[2:] - f.box[:2]))
    side = context * float(max(face.box[2:] - face.box[:2]))
    corner = (face.box[:2] + face.box[2:]) / 2 - side / 2
    shift = np.array([[1.0, 0.0, -corner[0]], [0.0, 1.0, -corner[1]]])
    region = cv2.warpAffine(photo, shift, (int(round(side)),) * 2, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    return trajectory_video(region, face.landmarks - corner, num_frames, seed=seed)


def _agreement(predictions: Sequence[Optional[np.ndarray]],
               reference: Sequence[Optional[np.ndarray]],
               truth: Sequence[Optional[np.ndarray]]) -> float:
    """Mean distance between two modes' landmarks over the frames both have, over the size
    of the (reference) truth's box: how far a mode is from another without ground truth."""
    distances = [np.linalg.norm(a - b, axis=1).mean() / normaliser(gt[None])[0]
                 for a, b, gt in zip(predictions, reference, truth)
                 if a is not None and b is not None and gt is not None]
    return float(np.mean(distances)) if distances else float("nan")


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _modes(predictor: Predictor, detect_every: int) -> Dict[str, Callable[[], object]]:
    return {"detect every frame": lambda: predictor,
            f"tracking (detector every {detect_every})":
                lambda: FaceTracker(predictor, detect_every, smoothing=False),
            "tracking + One-Euro":
                lambda: FaceTracker(predictor, detect_every, smoothing=True)}


def _run(video: TrajectoryVideo, make: Callable[[], object], passes: int = 1
         ) -> Tuple[List[Optional[np.ndarray]], float, float]:
    """One mode over one video: predictions, frames per second (of the fastest of ``passes``
    passes, each with a fresh tracker: the least disturbed by other work on the machine;
    the predictions are the same in each), tracked crops' error."""
    runs = []
    for _ in range(passes):
        predict = make()
        runs.append(run_tracking(video, predict) if isinstance(predict, FaceTracker)
                    else (*run_mode(video, predict), float("nan")))
    predictions, _, align_error = runs[0]
    return predictions, max(fps for _, fps, _ in runs), align_error


def benchmark_video(model_dir: str, data: str, fmt: str = "jd106", faces: int = 3,
                    num_frames: int = 180, detect_every: int = 30,
                    plot: Optional[str] = None, real_photo: Optional[str] = None,
                    passes: int = 3, flip: bool = False, detector: str = "default",
                    report: Callable[[str], None] = print) -> List[Dict]:
    """Per-frame detection, tracking, and tracking + One-Euro smoothing on trajectory videos
    of the last ``faces`` faces of ``data`` (a labelled split): NME, jitter, missed frames and
    frames per second of each mode (all in this one process, for ratios; the fastest of
    ``passes`` passes over each video), beside the floor
    (each face cropped from the truth's five points: the model's own error), and optionally
    a plot of one landmark's x coordinate against its truth.

    ``flip`` turns on flip test-time augmentation in every mode (the tracker's crops then
    also run beside their mirrors, which it uses to tell a lost face). ``detector`` names
    the Predictor's detector (:func:`..data.detector.get_detector`).

    With ``real_photo``, the largest face of that photo is moved along ``faces`` trajectories
    too (:func:`real_face_video`): no ground truth there, so each mode's jitter against the
    still photo's answer, and its distance from per-frame detection."""
    from ..data.formats import read_image_file, scan_dataset

    samples = scan_dataset(data, fmt)[0][-faces:]
    if not samples:
        raise UserError(f"{data}: no labelled faces to move along a trajectory")
    predictor = Predictor(model_dir, flip=flip, detector=detector)
    described = getattr(predictor.detector, "description", detector)
    report(f"backend {predictor.backend}, detector {described}, flip TTA "
           f"{'on' if flip else 'off'} in every mode")
    modes = _modes(predictor, detect_every)
    floor = "aligned from the truth (floor)"
    totals = {name: {"nme": [], "jitter": [], "missed": [], "fps": [], "align_error": []}
              for name in [floor, *modes]}
    traces = {}
    for k, sample in enumerate(samples):
        video = trajectory_video(read_image_file(sample.image_path), sample.landmarks,
                                 num_frames, seed=k)
        for name in totals:
            if name == floor:
                predictions, fps = truth_aligned(video, predictor)
                align_error = float("nan")
            else:
                predictions, fps, align_error = _run(video, modes[name], passes)
            for key, value in score_predictions(predictions, video.truth).items():
                totals[name][key].append(value)
            totals[name]["fps"].append(fps)
            totals[name]["align_error"].append(align_error)
            if k == 0:
                traces[name] = predictions
        if k == 0:
            traces["truth"] = video.truth
    rows = [{"mode": name, **{key: _mean(v) for key, v in values.items()}}
            for name, values in totals.items()]
    for row in rows:
        crops = ("" if np.isnan(row["align_error"]) else
                 f"  tracked crops {row['align_error'] * 100:4.1f}% off")
        report(f"{row['mode']:<32} NME {row['nme'] * 100:5.2f}%  jitter {row['jitter'] * 100:5.2f}%"
               f"  missed {row['missed'] * 100:4.1f}%  {row['fps']:6.1f} frames/s{crops}")
    if real_photo:
        rows += _real_face_rows(real_photo, predictor, modes, faces, num_frames, passes,
                                report)
    if plot:
        from ..viz import plot_landmark_trace

        plot_landmark_trace(traces, plot)
    return rows


def _real_face_rows(path: str, predictor: Predictor, modes: Dict[str, Callable[[], object]],
                    videos: int, num_frames: int, passes: int,
                    report: Callable[[str], None]) -> List[Dict]:
    from ..data.formats import read_image_file

    photo = read_image_file(path)
    totals = {name: {"jitter": [], "missed": [], "fps": [], "vs_detection": []}
              for name in modes}
    for k in range(videos):
        video = real_face_video(photo, predictor, num_frames, seed=k)
        runs = {name: _run(video, make, passes) for name, make in modes.items()}
        per_frame = runs["detect every frame"][0]
        for name, (predictions, fps, _) in runs.items():
            scores = score_predictions(predictions, video.truth)
            totals[name]["jitter"].append(scores["jitter"])
            totals[name]["missed"].append(scores["missed"])
            totals[name]["fps"].append(fps)
            totals[name]["vs_detection"].append(_agreement(predictions, per_frame, video.truth))
    report(f"real face ({os.path.basename(path)}, no ground truth: jitter against the still "
           f"photo's answer, distance from per-frame detection)")
    rows = []
    for name, values in totals.items():
        row = {"mode": f"real face: {name}", **{key: _mean(v) for key, v in values.items()}}
        rows.append(row)
        versus = ("" if name == "detect every frame" else
                  f"  {row['vs_detection'] * 100:5.2f}% from detection")
        report(f"  {name:<30} jitter {row['jitter'] * 100:5.2f}%  missed "
               f"{row['missed'] * 100:4.1f}%  {row['fps']:6.1f} frames/s{versus}")
    return rows
