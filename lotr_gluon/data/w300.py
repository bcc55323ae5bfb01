"""300W (and iBUG-style) ``.pts`` files: ``version: 1``, ``n_points: 68``, points in braces."""
from __future__ import annotations

import os
from typing import List, Tuple

import numpy as np

from .image_file import image_size
from .samples import DatasetError, Problem, Sample, check_inside, parse_points

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def read_pts(path: str, num_points: int = 68) -> np.ndarray:
    """Read a ``.pts`` file to ``(N, 2)``; the header must declare ``num_points``.

    300W coordinates are 1-based (Matlab); they are returned as written.
    """
    if not os.path.isfile(path):
        raise DatasetError(path, "pts file is missing")
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    header, brace, rest = text.partition("{")
    body, closing, _ = rest.partition("}")
    if not brace or not closing:
        raise DatasetError(path, "expected the points between '{' and '}'")
    declared = None
    for line in header.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "n_points":
            try:
                declared = int(value)
            except ValueError:
                raise DatasetError(path, f"n_points is not a number: {value.strip()!r}") from None
    if declared is None:
        raise DatasetError(path, "header has no n_points line")
    if declared != num_points:
        raise DatasetError(path, f"expected {num_points} points, found {declared}")
    return parse_points(body.split(), num_points, path)


def scan(root: str, num_points: int = 68, decode: bool = False
         ) -> Tuple[List[Sample], List[Problem]]:
    """Every image under ``root`` with a ``.pts`` of the same stem beside it."""
    if not os.path.isdir(root):
        raise DatasetError(root, "dataset folder does not exist")
    samples, problems = [], []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() not in IMAGE_EXTENSIONS:
                continue
            image_path = os.path.join(folder, name)
            pts_path = os.path.join(folder, stem + ".pts")
            try:
                landmarks = read_pts(pts_path, num_points)
                check_inside(landmarks, image_size(image_path, decode), pts_path)
            except DatasetError as err:
                problems.append(Problem.from_error(err))
                continue
            samples.append(Sample(image_path, landmarks))
    return samples, problems
