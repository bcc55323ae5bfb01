"""WFLW annotation files: one face a line, 196 coordinates, a box, 6 attributes, the image path.

``list_98pt_rect_attr_train.txt`` lines read ``x0 y0 ... x97 y97 x1 y1 x2 y2 pose expression
illumination make-up occlusion blur relative/path.jpg``; paths are relative to
``WFLW_images/``.
"""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

from .image_file import image_size
from .samples import DatasetError, Problem, Sample, check_inside, parse_points

NUM_POINTS = 98


def default_images_root(annotation_file: str) -> str:
    """``WFLW_images`` beside the annotation folder, as the WFLW archives unpack."""
    folder = os.path.dirname(os.path.abspath(annotation_file))
    for candidate in (os.path.join(folder, "WFLW_images"),
                      os.path.join(os.path.dirname(folder), "WFLW_images")):
        if os.path.isdir(candidate):
            return candidate
    return folder


def scan(annotation_file: str, images_root: Optional[str] = None, decode: bool = False
         ) -> Tuple[List[Sample], List[Problem]]:
    """Every line of a WFLW annotation file as a sample (a face; images can repeat)."""
    if not os.path.isfile(annotation_file):
        raise DatasetError(annotation_file, "WFLW annotation file does not exist")
    images_root = images_root or default_images_root(annotation_file)
    samples, problems = [], []
    with open(annotation_file, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            tokens = line.split()
            if not tokens:
                continue
            where = f"{annotation_file}:{number}"
            expected = 2 * NUM_POINTS + 4 + 6 + 1
            try:
                if len(tokens) != expected:
                    raise DatasetError(where, f"expected {expected} fields (98 points, box, 6 "
                                              f"attributes, image), found {len(tokens)}")
                landmarks = parse_points(tokens[:2 * NUM_POINTS], NUM_POINTS, where)
                box = tuple(float(v) for v in tokens[2 * NUM_POINTS:2 * NUM_POINTS + 4])
                image_path = os.path.join(images_root, tokens[-1])
                check_inside(landmarks, image_size(image_path, decode), where)
            except DatasetError as err:
                problems.append(Problem.from_error(err))
                continue
            except ValueError:
                problems.append(Problem(where, "box is not numeric"))
                continue
            samples.append(Sample(image_path, landmarks, box))
    return samples, problems
