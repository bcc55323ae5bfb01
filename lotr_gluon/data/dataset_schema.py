"""The landmark schema a data config's faces follow: ``data.schema``, else the format's own,
else (a COCO file) the file's category."""
from __future__ import annotations

from typing import Optional

from ..errors import UserError
from . import coco
from .data_config import DataConfig
from .formats import dataset_format
from .landmarks import LandmarkSchema, get_schema, resolve_schema


def dataset_schema(data: DataConfig, path: Optional[str] = None) -> LandmarkSchema:
    """The landmark schema of ``data``'s faces: ``data.schema`` when set (a schema's name, a
    schema file, or its mapping), else the format's own; a COCO file without a schema file
    gives its category's (``path``: the file).
    """
    fmt = dataset_format(data.format)
    own = None if fmt.schema is None else get_schema(fmt.schema)
    if data.schema is not None:
        schema = resolve_schema(data.schema)
        if own is not None and own.num_points != schema.num_points:
            raise UserError(f"data.schema {schema.name} has {schema.num_points} points and "
                            f"data.format {data.format} {own.num_points}; a schema of "
                            f"another count is for data.format=coco")
        return schema
    if own is not None:
        return own
    if path is None:
        raise UserError(f"data.format {data.format}: set data.schema to a schema file, or "
                        f"give the split whose categories name the points")
    return coco.schema_of_file(path)
