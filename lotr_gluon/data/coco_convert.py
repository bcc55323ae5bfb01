"""A dataset of another format written as a COCO keypoints file (``tools/to_coco.py``)."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from .coco import write_coco
from .data_config import DataConfig
from .dataset_schema import dataset_schema
from .formats import scan_dataset
from .landmarks import LandmarkSchema
from .samples import DatasetError, Problem, Sample


def convert(root: str, fmt: str, out: str, schema: Optional[LandmarkSchema] = None,
            points: Optional[Sequence[int]] = None) -> Tuple[int, List[Problem]]:
    """Write the faces of a dataset in another format as a COCO keypoints file ``out``;
    returns the faces written and the source's unusable samples.

    ``points`` keeps those points of the source markup only (indices in it), in that order,
    as the markup of ``schema`` (a schema file's, which names them); without ``points`` the
    faces keep every point, named by ``schema`` or by the source's own schema.
    """
    source = dataset_schema(DataConfig(format=fmt), root)
    samples, problems = scan_dataset(root, fmt)
    if points is not None:
        points = [int(i) for i in points]
        bad = [i for i in points if not 0 <= i < source.num_points]
        if bad:
            raise DatasetError(root, f"--points {bad} are not points of {source.name} "
                                     f"(0..{source.num_points - 1})")
        if schema is None or schema.num_points != len(points):
            raise DatasetError(root, f"{len(points)} points kept: give the schema file of "
                                     f"that markup, with {len(points)} points")
        samples = [Sample(s.image_path, s.landmarks[points], s.rect) for s in samples]
    schema = schema or source
    if schema.num_points != source.num_points and points is None:
        raise DatasetError(root, f"schema {schema.name} has {schema.num_points} points and "
                                 f"{source.name} {source.num_points}: give --points")
    write_coco(samples, schema, out)
    return len(samples), problems
