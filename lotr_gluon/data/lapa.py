"""LaPa (Liu et al., AAAI 2020): ``images/NAME.jpg`` and ``landmarks/NAME.txt`` per split.

A landmark file holds the point count on its first line, then one ``x y`` line per point, in
the same 106-point markup as the JD-landmark data, so a model trains on the public LaPa
instead of JD with ``data.format: lapa``. Files without the count line are read too. A split
root is any folder with ``images/`` and ``landmarks/`` in it (LaPa's ``train/``, ``val/``,
``test/``); ``labels/`` (the parsing masks) is ignored.
"""
from __future__ import annotations

import os
from typing import List, Tuple

import numpy as np

from .samples import DatasetError, Problem, Sample, check_inside, image_size, parse_points

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def read_landmarks(path: str, num_points: int = 106) -> np.ndarray:
    """Read a LaPa landmark file to ``(N, 2)``, with or without its leading count line."""
    if not os.path.isfile(path):
        raise DatasetError(path, "landmark file is missing")
    with open(path, encoding="utf-8", errors="replace") as f:
        tokens = f.read().split()
    if not tokens:
        raise DatasetError(path, "landmark file is empty")
    if len(tokens) % 2 == 1:  # an odd count: the first token is the point count
        try:
            declared = int(tokens[0])
        except ValueError:
            raise DatasetError(path, f"expected the point count or 'x y' lines, found "
                                     f"{tokens[0]!r} first") from None
        if declared != num_points:
            raise DatasetError(path, f"expected {num_points} points, found {declared}")
        tokens = tokens[1:]
    return parse_points(tokens, num_points, path)


def find_roots(root: str) -> List[str]:
    """Folders at or below ``root`` that hold both ``images/`` and ``landmarks/``."""
    if not os.path.isdir(root):
        raise DatasetError(root, "dataset folder does not exist")
    roots = []
    for folder, dirs, _ in os.walk(root):
        if "images" in dirs and "landmarks" in dirs:
            roots.append(folder)
            dirs[:] = []
        dirs.sort()
    if not roots:
        raise DatasetError(root, "no LaPa data here (expected images/ and landmarks/ in it or "
                                 "in its subfolders)")
    return roots


def scan(root: str, num_points: int = 106, decode: bool = False
         ) -> Tuple[List[Sample], List[Problem]]:
    """Every image with its landmark file, checked as the JD reader checks them."""
    samples: List[Sample] = []
    problems: List[Problem] = []
    for split in find_roots(root):
        names = sorted(n for n in os.listdir(os.path.join(split, "images"))
                       if n.lower().endswith(IMAGE_EXTENSIONS))
        stems = set()
        for name in names:
            stem = os.path.splitext(name)[0]
            stems.add(stem)
            image_path = os.path.join(split, "images", name)
            landmark_path = os.path.join(split, "landmarks", stem + ".txt")
            try:
                landmarks = read_landmarks(landmark_path, num_points)
                check_inside(landmarks, image_size(image_path, decode=decode), landmark_path)
            except DatasetError as err:
                problems.append(Problem.from_error(err))
                continue
            samples.append(Sample(image_path, landmarks))
        for text in sorted(os.listdir(os.path.join(split, "landmarks"))):
            if text.endswith(".txt") and text[:-4] not in stems:
                problems.append(Problem(os.path.join(split, "landmarks", text),
                                        "landmark file without an image"))
    return samples, problems
