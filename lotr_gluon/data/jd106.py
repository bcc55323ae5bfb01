"""The JD-landmark layout: ``picture/NAME.jpg``, ``landmark/NAME.jpg.txt``, ``rect/NAME.jpg.rect``.

A landmark file holds the point count on its first line, then one ``x y`` line per point. A
rect file holds ``x1 y1 x2 y2``. A dataset root is any folder with ``picture/`` and
``landmark/`` in it, or a folder whose subfolders are (JD's Training_data/AFW, .../HELEN, ...).
"""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

import cv2
import numpy as np

from .samples import (DatasetError, Problem, Rect, Sample, check_inside, image_size,
                      parse_points, rect_is_valid)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def read_landmarks(path: str, num_points: int = 106) -> np.ndarray:
    """Read a JD landmark file to ``(N, 2)``; a missing file or bad content is a DatasetError."""
    if not os.path.isfile(path):
        raise DatasetError(path, "landmark file is missing")
    with open(path, encoding="utf-8", errors="replace") as f:
        tokens = f.read().split()
    if not tokens:
        raise DatasetError(path, "landmark file is empty")
    try:
        declared = int(tokens[0])
    except ValueError:
        raise DatasetError(path, f"first line should be the point count, found "
                                 f"{tokens[0]!r}") from None
    if declared != num_points:
        raise DatasetError(path, f"expected {num_points} points, found {declared}")
    return parse_points(tokens[1:], num_points, path)


def read_rect(path: str) -> Optional[Rect]:
    """Read a rect file, or None when there is none."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        tokens = f.read().split()
    try:
        rect = tuple(float(t) for t in tokens[:4])
    except ValueError:
        raise DatasetError(path, f"expected 'x1 y1 x2 y2', found {' '.join(tokens)!r}") from None
    if len(rect) != 4 or not rect_is_valid(rect):
        raise DatasetError(path, "expected 'x1 y1 x2 y2' with x2 > x1, y2 > y1")
    return rect


def _paths(root: str, name: str) -> Tuple[str, str, str]:
    return (os.path.join(root, "picture", name), os.path.join(root, "landmark", name + ".txt"),
            os.path.join(root, "rect", name + ".rect"))


def read_sample(root: str, name: str, num_points: int = 106
                ) -> Tuple[np.ndarray, np.ndarray, Optional[Rect]]:
    """``(BGR image, (N, 2) landmarks, rect or None)`` for ``picture/NAME`` under ``root``."""
    image_path, landmark_path, rect_path = _paths(root, name)
    landmarks = read_landmarks(landmark_path, num_points)
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(image_path, "image file is missing" if not os.path.isfile(image_path)
                           else "unreadable image")
    return image, landmarks, read_rect(rect_path)


def find_roots(root: str) -> List[str]:
    """Folders at or below ``root`` that hold both ``picture/`` and ``landmark/``."""
    if not os.path.isdir(root):
        raise DatasetError(root, "dataset folder does not exist")
    roots = []
    for folder, dirs, _ in os.walk(root):
        if "picture" in dirs and "landmark" in dirs:
            roots.append(folder)
            dirs[:] = []  # a split does not nest another
        dirs.sort()
    if not roots:
        raise DatasetError(root, "no JD-landmark data here (expected picture/ and landmark/ "
                                 "in it or in its subfolders)")
    return roots


def scan(root: str, num_points: int = 106, decode: bool = False
         ) -> Tuple[List[Sample], List[Problem]]:
    """Index and validate every sample under ``root``.

    Each picture needs its landmark file with ``num_points`` finite points, none far outside
    the image, and an image that opens (``decode=True`` also decodes every pixel, which finds
    truncated files). Returns the usable samples and a problem per unusable one.
    """
    samples: List[Sample] = []
    problems: List[Problem] = []
    for split in find_roots(root):
        names = sorted(n for n in os.listdir(os.path.join(split, "picture"))
                       if n.lower().endswith(IMAGE_EXTENSIONS))
        for name in names:
            image_path, landmark_path, rect_path = _paths(split, name)
            try:
                landmarks = read_landmarks(landmark_path, num_points)
                size = image_size(image_path, decode=decode)
                check_inside(landmarks, size, landmark_path)
                rect = read_rect(rect_path)
            except DatasetError as err:
                problems.append(Problem.from_error(err))
                continue
            samples.append(Sample(image_path, landmarks, rect))
        listed = set(names)
        for text in sorted(os.listdir(os.path.join(split, "landmark"))):
            if text.endswith(".txt") and text[:-4] not in listed:
                problems.append(Problem(os.path.join(split, "landmark", text),
                                        "landmark file without a picture"))
    return samples, problems
