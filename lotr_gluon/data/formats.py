"""Dataset formats by name: which reader and which landmark schema each uses."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import UserError
from . import coco, jd106, lapa, recordio, w300, wflw
from .image_file import read_image_file
from .landmarks import LandmarkSchema
from .samples import Problem, Sample


@dataclass(frozen=True)
class DatasetFormat:
    scan: Callable[..., Tuple[List[Sample], List[Problem]]]
    schema: Optional[str]  # the built-in schema; None: data.schema's, or the file's own
    root_is: str  # what the root argument names, for help and errors
    image_reader: Callable[[], Callable[[str], np.ndarray]] = lambda: read_image_file
    packed: bool = False  # a RecordIO pack of aligned canvases (data/recordio.py)


_REC = "a SPLIT.rec pack from tools/pack_rec.py (give the path without .rec)"
FORMATS: Dict[str, DatasetFormat] = {
    "jd106": DatasetFormat(jd106.scan, "jd106", "a folder with picture/ and landmark/"),
    "lapa": DatasetFormat(lapa.scan, "jd106", "a folder with images/ and landmarks/"),
    "300w": DatasetFormat(w300.scan, "300w68", "a folder of images with .pts files"),
    "wflw": DatasetFormat(wflw.scan, "wflw98", "a WFLW annotation .txt file"),
    "coco": DatasetFormat(coco.scan, None, "a COCO keypoints .json file"),
    # Packs of aligned faces, one per source schema (see data/recordio.py).
    "jd106_rec": DatasetFormat(recordio.scan, "jd106", _REC, recordio.RecordImageReader, True),
    "300w_rec": DatasetFormat(recordio.scan, "300w68", _REC, recordio.RecordImageReader, True),
    "wflw_rec": DatasetFormat(recordio.scan, "wflw98", _REC, recordio.RecordImageReader, True),
}


def dataset_format(fmt: str) -> DatasetFormat:
    """The format named ``fmt``, or a UserError listing the names."""
    if fmt not in FORMATS:
        raise UserError(f"unknown dataset format {fmt!r}; expected one of {sorted(FORMATS)}")
    return FORMATS[fmt]


def scan_dataset(root: str, fmt: str = "jd106", decode: bool = False,
                 schema: Optional[LandmarkSchema] = None, five_point_alignment: bool = True
                 ) -> Tuple[List[Sample], List[Problem]]:
    """Index and validate a dataset; returns usable samples and a problem per unusable one.

    ``schema`` and ``five_point_alignment`` are for the formats without a schema of their own
    (``coco``): the points the faces carry, and whether a face needs its five alignment points
    labelled.
    """
    reader = dataset_format(fmt)
    if reader.schema is None:
        return reader.scan(root, decode=decode, schema=schema,
                           five_point_alignment=five_point_alignment)
    return reader.scan(root, decode=decode)
