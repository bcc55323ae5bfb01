"""Run a Predictor over files, folders, videos and a webcam; draw and record the landmarks."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..data.image_file import read_image_file
from ..data.samples import DatasetError
from ..deploy.predictor import FaceLandmarks, Predictor
from ..viz import draw_landmarks, save_image
from .landmark_log import LandmarkLog

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def expand_inputs(inputs: Sequence[str]) -> Tuple[List[str], List[str], List[str]]:
    """Split inputs into image files, video files and paths that are neither (reported)."""
    images, videos, bad = [], [], []
    for item in inputs:
        if os.path.isdir(item):
            for folder, dirs, files in os.walk(item):
                dirs.sort()
                for name in sorted(files):
                    path = os.path.join(folder, name)
                    ext = os.path.splitext(name)[1].lower()
                    if ext in IMAGE_EXTENSIONS:
                        images.append(path)
                    elif ext in VIDEO_EXTENSIONS:
                        videos.append(path)
        elif os.path.isfile(item):
            ext = os.path.splitext(item)[1].lower()
            (videos if ext in VIDEO_EXTENSIONS else images).append(item)
        else:
            bad.append(item)
    return images, videos, bad


def draw_faces(image: np.ndarray, faces: Iterable[FaceLandmarks], polylines,
               show_index: bool = False) -> np.ndarray:
    canvas = image
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        canvas = draw_landmarks(canvas, face.landmarks, polylines, show_index=show_index,
                                radius=max(1, int(round((x2 - x1) / 120))))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (255, 128, 0), 1)
    return canvas


def _never() -> bool:
    return False


@dataclass(frozen=True)
class BatchOutcome:
    """How far :meth:`Annotator.run` got over its photo and video files."""

    total: int  # photo and video files given
    finished: int  # of those, in the output folder: from earlier runs and this one
    earlier: int  # already there when the run started, so skipped
    unreadable: int  # missing, damaged or undecodable: reported and skipped
    stopped: bool  # a stop request ended the run before every file was tried
    live: bool = False  # the live source gave frames, which were recorded
    noun: str = "photos"  # what the files are, for the report lines

    def stop_line(self) -> str:
        """What a stopped run says: how far it got and how to go on."""
        return (f"stopped after {self.finished} of {self.total} {self.noun}; run the same "
                f"command again to continue")


class Annotator:
    """Predicts, draws and records, file after file: what ``tools/predict.py`` runs.

    Each finished photo or video is in the output folder's :class:`.landmark_log.LandmarkLog`
    before the next one starts, so a stopped run keeps it, and a later run over the same
    folder skips the files already there (``overwrite`` starts afresh).
    """

    def __init__(self, predictor: Predictor, out_dir: str, show_index: bool = False,
                 report=print, tracker: Optional[Callable[[], object]] = None,
                 overwrite: bool = False):
        self.predictor, self.out_dir = predictor, out_dir
        self.tracker = tracker  # makes a FaceTracker per video; None: detect every frame
        self.show_index, self.report = show_index, report
        self.polylines = predictor.schema.polylines
        os.makedirs(out_dir, exist_ok=True)
        self.log = LandmarkLog(out_dir, fresh=overwrite)

    @property
    def results(self) -> Dict[str, list]:
        """Every source recorded in the output folder -> its faces (or frames of faces)."""
        return self.log.results

    def image(self, path: str) -> bool:
        """Predict, draw and record one photo; False (reported) when it cannot be read."""
        try:
            image = read_image_file(path)
        except DatasetError as err:
            self.report(f"skipped {path}: {err.message}")
            return False
        faces = self.predictor(image)
        name = os.path.splitext(os.path.basename(path))[0] + "_landmarks.jpg"
        save_image(os.path.join(self.out_dir, name),
                   draw_faces(image, faces, self.polylines, self.show_index))
        self.log.add_photo(path, [f.to_dict() for f in faces])
        self.report(f"{path}: {len(faces)} face(s)")
        return True

    def video(self, source, label: str, show: bool = False,
              stop: Callable[[], bool] = _never, live: bool = False) -> bool:
        """Predict, draw and record a video file or a ``live`` source, frame by frame;
        whether it was recorded. A stop request ends a live source (what it gave is
        recorded) and abandons a file (the next run does it again)."""
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            self.report(f"skipped {label}: cannot open video")
            return False
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        predict = self.tracker() if self.tracker is not None else None
        writer, frames, per_frame = None, 0, []
        out_path = os.path.join(self.out_dir, f"{label}_landmarks.mp4")
        abandoned = False
        while True:
            if stop():
                abandoned = not live
                break
            ok, frame = capture.read()
            if not ok:
                break
            faces = (predict(frame, frames / fps) if predict is not None
                     else self.predictor(frame))
            per_frame.append([f.to_dict() for f in faces])
            drawn = draw_faces(frame, faces, self.polylines, self.show_index)
            if writer is None:
                writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                         (frame.shape[1], frame.shape[0]))
            writer.write(drawn)
            frames += 1
            if show:
                cv2.imshow("lotr_gluon (q quits)", drawn)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
        capture.release()
        if writer is not None:
            writer.release()
        if show:
            cv2.destroyAllWindows()
        if abandoned:
            if os.path.isfile(out_path):
                os.remove(out_path)  # half a video; the next run writes it whole
            self.report(f"{label}: stopped at frame {frames}, left for the next run")
            return False
        self.log.add_video(str(label), per_frame)
        self.report(f"{label}: {frames} frames -> {out_path}")
        return frames > 0

    def run(self, images: Sequence[str], videos: Sequence[str], live=None,
            live_label: str = "webcam", show: bool = False,
            stop: Callable[[], bool] = _never) -> BatchOutcome:
        """The photos, then the video files, then the ``live`` source (a camera index or a
        stream), skipping the files already recorded and ending early when ``stop()`` says
        so (checked between photos and between frames)."""
        files = ([(path, path, False) for path in images]
                 + [(path, os.path.splitext(os.path.basename(path))[0], True)
                    for path in videos])
        noun = "photos" if not videos else "inputs"
        earlier = sum(key in self.log for _, key, _ in files)
        if earlier:
            self.report(f"{earlier} of {len(files)} {noun} already in {self.log.path}: "
                        f"skipped (--overwrite starts afresh)")
        unreadable, stopped = 0, False
        for path, key, is_video in files:
            if stop():
                stopped = True
                break
            if key in self.log:
                continue
            if self.video(path, key, stop=stop) if is_video else self.image(path):
                continue
            if stop():  # a video abandoned halfway
                stopped = True
                break
            unreadable += 1
        recorded_live = False
        if live is not None and not stopped:
            recorded_live = self.video(live, live_label, show=show, stop=stop, live=True)
        finished = sum(key in self.log for _, key, _ in files)
        return BatchOutcome(len(files), finished, earlier, unreadable, stopped, recorded_live,
                            noun)

    def save(self, as_csv: bool = False) -> str:
        """Write every recorded result as ``landmarks.json`` (or ``.csv``) and close the log;
        returns the file's path (:meth:`.landmark_log.LandmarkLog.write`)."""
        self.log.close()
        return self.log.write(as_csv)
