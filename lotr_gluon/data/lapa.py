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

from .folder_layout import FolderLayout
from .samples import Problem, Sample

LAYOUT = FolderLayout("images", "landmarks", lambda name: os.path.splitext(name)[0] + ".txt",
                      count_required=False, name="LaPa")


def scan(root: str, num_points: int = 106, decode: bool = False
         ) -> Tuple[List[Sample], List[Problem]]:
    """Index and validate every sample under ``root`` (:meth:`FolderLayout.scan`)."""
    return LAYOUT.scan(root, num_points, decode)
