"""Run a Predictor over files, folders, videos and a webcam; draw and record the landmarks."""
from __future__ import annotations

import csv
import json
import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..fileio import atomic_path, atomic_write_text
from ..viz import draw_landmarks, save_image
from .predictor import FaceLandmarks, Predictor

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


class Annotator:
    """Predicts, draws and collects results for the CLI."""

    def __init__(self, predictor: Predictor, out_dir: str, show_index: bool = False,
                 report=print, tracker: Optional[Callable[[], object]] = None):
        self.predictor, self.out_dir = predictor, out_dir
        self.tracker = tracker  # makes a FaceTracker per video; None: detect every frame
        self.show_index, self.report = show_index, report
        self.polylines = predictor.schema.polylines
        self.results: Dict[str, list] = {}
        os.makedirs(out_dir, exist_ok=True)

    def image(self, path: str) -> bool:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            self.report(f"skipped {path}: unreadable image")
            return False
        faces = self.predictor(image)
        self.results[path] = [f.to_dict() for f in faces]
        name = os.path.splitext(os.path.basename(path))[0] + "_landmarks.jpg"
        save_image(os.path.join(self.out_dir, name),
                   draw_faces(image, faces, self.polylines, self.show_index))
        self.report(f"{path}: {len(faces)} face(s)")
        return True

    def video(self, source, label: str, show: bool = False) -> bool:
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            self.report(f"skipped {label}: cannot open video")
            return False
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        predict = self.tracker() if self.tracker is not None else None
        writer, frames, per_frame = None, 0, []
        out_path = os.path.join(self.out_dir, f"{label}_landmarks.mp4")
        while True:
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
        self.results[str(label)] = per_frame
        self.report(f"{label}: {frames} frames -> {out_path}")
        return frames > 0

    def save(self, as_csv: bool = False) -> str:
        """Write all results as JSON (or CSV: one row per face, x0 y0 x1 y1 ...)."""
        if not as_csv:
            path = os.path.join(self.out_dir, "landmarks.json")
            atomic_write_text(path, json.dumps(self.results, indent=1) + "\n")
            return path
        path = os.path.join(self.out_dir, "landmarks.csv")
        with atomic_path(path) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                for source, faces in self.results.items():
                    frames = faces if faces and isinstance(faces[0], list) else [faces]
                    for frame_index, frame in enumerate(frames):
                        for face in frame:
                            flat = [v for point in face["landmarks"] for v in point]
                            writer.writerow([source, frame_index, face["score"], *face["box"],
                                             *flat])
        return path
