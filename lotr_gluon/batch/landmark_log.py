"""The landmarks a batch prediction writes, kept as it goes so that a stopped run loses none.

``OUT/landmarks.jsonl`` grows one line per finished photo (or video), flushed at once: a run
stopped at any moment (Ctrl-C, SIGTERM, a kill, a crash) keeps every photo it finished, and
the same command run again skips them. ``landmarks.json`` (or ``landmarks.csv``) is written
from it, atomically, when a run ends or is stopped: every source of the folder once, its
latest record.

A line is ``{"source": PATH, "faces": [FACE, ...]}`` for a photo and ``{"source": LABEL,
"frames": [[FACE, ...], ...]}`` for a video or a live source, each ``FACE`` as
:meth:`.predictor.FaceLandmarks.to_dict` gives it.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Dict, List, Optional, TextIO

from ..fileio import append_json_lines, atomic_path, atomic_write_text, read_json_lines

LOG_NAME = "landmarks.jsonl"
FINAL_NAMES = ("landmarks.json", "landmarks.csv")


class LandmarkLog:
    """The results of an output folder, read back from its log and appended to it.

    Parameters
    ----------
    out_dir : str
        The output folder.
    fresh : bool
        Start afresh: drop the folder's log and its final files first.
    """

    def __init__(self, out_dir: str, fresh: bool = False):
        self.out_dir = out_dir
        self.path = os.path.join(out_dir, LOG_NAME)
        if fresh:
            for name in (LOG_NAME, *FINAL_NAMES):
                if os.path.isfile(os.path.join(out_dir, name)):
                    os.remove(os.path.join(out_dir, name))
        self.results: Dict[str, list] = {}
        for record in read_json_lines(self.path):
            if isinstance(record, dict) and "source" in record:
                self.results[record["source"]] = record.get("faces", record.get("frames"))
        self._file: Optional[TextIO] = None

    def __contains__(self, source: str) -> bool:
        return source in self.results

    def add_photo(self, source: str, faces: List[dict]) -> None:
        """Record a finished photo's faces (on disk when this returns)."""
        self._append({"source": source, "faces": faces})
        self.results[source] = faces

    def add_video(self, source: str, frames: List[List[dict]]) -> None:
        """Record a finished video's faces, frame by frame (on disk when this returns)."""
        self._append({"source": source, "frames": frames})
        self.results[source] = frames

    def _append(self, record: dict) -> None:
        if self._file is None:
            self._file = append_json_lines(self.path)
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, as_csv: bool = False) -> str:
        """Write every result as ``landmarks.json`` (or ``landmarks.csv``: one row per face,
        ``source, frame, score, box, x0 y0 x1 y1 ...``), atomically; returns its path."""
        if not as_csv:
            path = os.path.join(self.out_dir, FINAL_NAMES[0])
            atomic_write_text(path, json.dumps(self.results, indent=1) + "\n")
            return path
        path = os.path.join(self.out_dir, FINAL_NAMES[1])
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
