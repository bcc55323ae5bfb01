"""Dataset formats by name: which reader and which landmark schema each uses."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

from . import jd106, w300, wflw
from .samples import Problem, Sample


@dataclass(frozen=True)
class DatasetFormat:
    scan: Callable[..., Tuple[List[Sample], List[Problem]]]
    schema: str
    root_is: str  # what the root argument names, for help and errors


FORMATS: Dict[str, DatasetFormat] = {
    "jd106": DatasetFormat(jd106.scan, "jd106", "a folder with picture/ and landmark/"),
    "300w": DatasetFormat(w300.scan, "300w68", "a folder of images with .pts files"),
    "wflw": DatasetFormat(wflw.scan, "wflw98", "a WFLW annotation .txt file"),
}


def scan_dataset(root: str, fmt: str = "jd106", decode: bool = False
                 ) -> Tuple[List[Sample], List[Problem]]:
    """Index and validate a dataset; returns usable samples and a problem per unusable one."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; expected one of {sorted(FORMATS)}")
    return FORMATS[fmt].scan(root, decode=decode)
