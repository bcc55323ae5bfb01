"""Datasets laid out as a folder of images beside a folder of point files, per split.

JD-landmark (``picture/`` + ``landmark/NAME.jpg.txt``) and LaPa (``images/`` +
``landmarks/STEM.txt``) differ only in the folder names, how a point file is named after its
image and whether its leading point-count line is required; the search for split folders,
the point-file parsing and the checks are the same and live here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np

from .image_file import image_size
from .samples import DatasetError, Problem, Rect, Sample, check_inside, parse_points

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def read_point_file(path: str, num_points: int, count_required: bool = True) -> np.ndarray:
    """A point file (the point count, then one ``x y`` line per point) to ``(N, 2)``.

    Without ``count_required`` a file of bare ``x y`` lines is read too: an odd number of
    numbers means the first is the count.
    """
    if not os.path.isfile(path):
        raise DatasetError(path, "landmark file is missing")
    with open(path, encoding="utf-8", errors="replace") as f:
        tokens = f.read().split()
    if not tokens:
        raise DatasetError(path, "landmark file is empty")
    if count_required or len(tokens) % 2 == 1:
        try:
            declared = int(tokens[0])
        except ValueError:
            expected = ("the point count" if count_required
                        else "the point count or 'x y' lines")
            raise DatasetError(path, f"first line should be {expected}, found "
                                     f"{tokens[0]!r}") from None
        if declared != num_points:
            raise DatasetError(path, f"expected {num_points} points, found {declared}")
        tokens = tokens[1:]
    return parse_points(tokens, num_points, path)


@dataclass(frozen=True)
class FolderLayout:
    """Where a split keeps its images and point files, and how they are named.

    images, points : str
        The two folder names inside a split.
    point_name : callable
        Image file name -> point file name.
    count_required : bool
        Whether point files must start with the point count.
    name : str
        The dataset's name, for errors.
    read_rect : callable, optional
        ``(split folder, image name) -> face box or None`` (JD's ``rect/`` files).
    """

    images: str
    points: str
    point_name: Callable[[str], str]
    count_required: bool
    name: str
    read_rect: Optional[Callable[[str, str], Optional[Rect]]] = None

    def find_roots(self, root: str) -> List[str]:
        """Folders at or below ``root`` that hold both the image and the point folder."""
        if not os.path.isdir(root):
            raise DatasetError(root, "dataset folder does not exist")
        roots = []
        for folder, dirs, _ in os.walk(root):
            if self.images in dirs and self.points in dirs:
                roots.append(folder)
                dirs[:] = []  # a split does not nest another
            dirs.sort()
        if not roots:
            raise DatasetError(root, f"no {self.name} data here (expected {self.images}/ and "
                                     f"{self.points}/ in it or in its subfolders)")
        return roots

    def point_path(self, split: str, image_name: str) -> str:
        return os.path.join(split, self.points, self.point_name(image_name))

    def scan(self, root: str, num_points: int, decode: bool = False
             ) -> Tuple[List[Sample], List[Problem]]:
        """Index and validate every sample under ``root``.

        Each image needs its point file with ``num_points`` finite points, none far outside
        the image, and an image that opens (``decode=True`` also decodes every pixel, which
        finds truncated files). Point files without an image are problems too. Returns the
        usable samples and a problem per unusable one.
        """
        samples: List[Sample] = []
        problems: List[Problem] = []
        for split in self.find_roots(root):
            names = sorted(n for n in os.listdir(os.path.join(split, self.images))
                           if n.lower().endswith(IMAGE_EXTENSIONS))
            for name in names:
                image_path = os.path.join(split, self.images, name)
                point_path = self.point_path(split, name)
                try:
                    landmarks = read_point_file(point_path, num_points, self.count_required)
                    check_inside(landmarks, image_size(image_path, decode=decode), point_path)
                    rect = self.read_rect(split, name) if self.read_rect else None
                except DatasetError as err:
                    problems.append(Problem.from_error(err))
                    continue
                samples.append(Sample(image_path, landmarks, rect))
            expected = {self.point_name(n) for n in names}
            for text in sorted(os.listdir(os.path.join(split, self.points))):
                if text.endswith(".txt") and text not in expected:
                    problems.append(Problem(os.path.join(split, self.points, text),
                                            f"landmark file without an image in "
                                            f"{self.images}/"))
        return samples, problems
