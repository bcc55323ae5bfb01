"""The JD-landmark layout: ``picture/NAME.jpg``, ``landmark/NAME.jpg.txt``, ``rect/NAME.jpg.rect``.

A landmark file holds the point count on its first line, then one ``x y`` line per point. A
rect file holds ``x1 y1 x2 y2``. A dataset root is any folder with ``picture/`` and
``landmark/`` in it, or a folder whose subfolders are (JD's Training_data/AFW, .../HELEN, ...).
"""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

import numpy as np

from .folder_layout import FolderLayout, read_point_file
from .image_file import read_image_file
from .samples import DatasetError, Problem, Rect, Sample, rect_is_valid


def read_landmarks(path: str, num_points: int = 106) -> np.ndarray:
    """Read a JD landmark file to ``(N, 2)``; a missing file or bad content is a DatasetError."""
    return read_point_file(path, num_points, count_required=True)


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


def _rect_of(split: str, name: str) -> Optional[Rect]:
    return read_rect(os.path.join(split, "rect", name + ".rect"))


LAYOUT = FolderLayout("picture", "landmark", lambda name: name + ".txt", count_required=True,
                      name="JD-landmark", read_rect=_rect_of)


def read_sample(root: str, name: str, num_points: int = 106
                ) -> Tuple[np.ndarray, np.ndarray, Optional[Rect]]:
    """``(BGR image, (N, 2) landmarks, rect or None)`` for ``picture/NAME`` under ``root``."""
    image_path = os.path.join(root, LAYOUT.images, name)
    landmarks = read_landmarks(LAYOUT.point_path(root, name), num_points)
    return read_image_file(image_path), landmarks, _rect_of(root, name)


def find_roots(root: str) -> List[str]:
    """Folders at or below ``root`` that hold both ``picture/`` and ``landmark/``."""
    return LAYOUT.find_roots(root)


def scan(root: str, num_points: int = 106, decode: bool = False
         ) -> Tuple[List[Sample], List[Problem]]:
    """Index and validate every sample under ``root`` (:meth:`FolderLayout.scan`)."""
    return LAYOUT.scan(root, num_points, decode)
