"""The sidecar ``NAME.json`` beside an exported graph: what a deployment needs to know besides
the weights (input, output, landmark schema, how the crop was cut), written by
:func:`.export.export_symbol` and parsed here only, into :class:`Sidecar`. Every key it writes
is required when it is read.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from .._version import __version__
from ..data.crop_spec import CropSpec
from ..data.data_config import ALIGN_SOURCES
from ..data.landmarks import LandmarkSchema, SchemaError, get_schema, schema_from_dict
from ..errors import UserError
from ..heatmap_codec import OutputSpec

_OUTPUTS = {"coordinates": "(B, N, 2) x, y in crop pixels",
            "heatmap": "(B, N, H, W) heatmaps; decode with lotr_gluon.heatmap_codec",
            "vector": "(B, N, W + H) x then y vectors; decode with lotr_gluon.heatmap_codec"}
PRECISIONS = ("float32", "int8")  # int8: the backbone quantized (deploy/quantize.py)


class SidecarError(UserError):
    """A sidecar file is unreadable or lacks a key; the message names the file and the key."""


@dataclass(frozen=True)
class Sidecar:
    """An exported model's metadata, typed.

    Attributes
    ----------
    model : str
        The model's name (``lotr_m``, ...).
    num_points, input_size : int
        Landmarks per face; the crop's side in pixels.
    schema : str
        The landmark schema's name, with ``flip_perm``.
    crop : CropSpec
        The crop the model was trained on (its size, five-point or box rule, face fraction,
        box margin, template): the Predictor cuts its crops by it.
    align_source : str
        Where the training faces' five points came from (``ground_truth`` or ``detector``,
        ``data.align_source``): an evaluation of the export aligns its faces the same way.
    output : OutputSpec
        What the graph returns and how it decodes to crop pixels.
    """

    model: str
    num_points: int
    schema: str
    flip_perm: Tuple[int, ...]
    crop: CropSpec
    output: OutputSpec
    align_source: str = "ground_truth"
    input_name: str = "data"
    trained: bool = True
    version: str = ""
    precision: str = "float32"  # one of PRECISIONS
    # The schema's definition (its schema-file mapping): a custom markup's points, mirror
    # pairs, lines and normaliser travel with the model.
    schema_spec: Optional[Dict[str, Any]] = None

    @classmethod
    def of(cls, name: str, net, schema: LandmarkSchema, crop: CropSpec, trained: bool,
           align_source: str = "ground_truth", precision: str = "float32") -> "Sidecar":
        """The sidecar of Gluon network ``net`` exported as ``name``, trained on ``crop``."""
        if crop.input_size != int(net.input_size):
            raise UserError(f"the crop is {crop.input_size} px and {name} takes "
                            f"{net.input_size} px")
        return cls(name, int(net.num_points), schema.name, tuple(schema.flip_perm), crop,
                   OutputSpec.of(net), align_source, trained=trained, version=__version__,
                   precision=precision, schema_spec=schema.to_dict())

    @property
    def input_size(self) -> int:
        """The crop's side in pixels (``crop.input_size``)."""
        return self.crop.input_size

    @property
    def landmark_schema(self) -> LandmarkSchema:
        """The schema the model was trained on, from its definition (else the built-in)."""
        if self.schema_spec is None:
            return get_schema(self.schema)
        return schema_from_dict(self.schema_spec, f"the sidecar's schema {self.schema}")

    def to_dict(self) -> Dict[str, Any]:
        """The JSON layout (stable: other runtimes read it)."""
        return {"model": self.model, "num_points": self.num_points,
                **self.crop.to_dict(), "align_source": self.align_source,
                "input": "float32 RGB 0..255, NCHW",
                "input_name": self.input_name, "output": _OUTPUTS[self.output.kind],
                **self.output.to_dict(), "schema": self.schema,
                "flip_perm": list(self.flip_perm), "landmark_schema": self.schema_spec,
                "trained": self.trained, "lotr_gluon_version": self.version,
                "precision": self.precision}

    @classmethod
    def from_dict(cls, data: Dict[str, Any], where: str = "sidecar") -> "Sidecar":
        """Parse the JSON layout; raises :class:`SidecarError` naming ``where`` and the key."""
        def need(key: str) -> Any:
            if key not in data:
                raise SidecarError(f"{where}: no {key!r}; re-export the model with "
                                   f"tools/export.py")
            return data[key]

        precision = str(need("precision"))
        if precision not in PRECISIONS:
            raise SidecarError(f"{where}: precision {precision!r} is not one of "
                               f"{list(PRECISIONS)}")
        try:
            crop = CropSpec(int(need("input_size")), str(need("align")),
                            float(need("face_fraction")), float(need("box_margin"))
                            ).with_template(need("alignment_template"))
            align_source = str(need("align_source"))
            if align_source not in ALIGN_SOURCES:
                raise SidecarError(f"{where}: align_source {align_source!r} is not one of "
                                   f"{list(ALIGN_SOURCES)}")
            output = OutputSpec(str(need("output_kind")), float(need("heatmap_stride")),
                                float(need("sigma")), float(need("theta")))
            schema = str(need("schema"))
            spec = need("landmark_schema")
            if not isinstance(spec, dict):
                raise SidecarError(f"{where}: landmark_schema must be a mapping")
            sidecar = cls(str(need("model")), int(need("num_points")), schema,
                          tuple(int(i) for i in need("flip_perm")), crop, output, align_source,
                          str(need("input_name")), bool(need("trained")),
                          str(need("lotr_gluon_version")), precision, spec)
            if sidecar.landmark_schema.num_points != sidecar.num_points:
                raise SidecarError(f"{where}: schema {schema} has "
                                   f"{sidecar.landmark_schema.num_points} points and the "
                                   f"model {sidecar.num_points}")
            return sidecar
        except SchemaError as err:
            raise SidecarError(f"{where}: {err}") from None
        except SidecarError:
            raise
        except (TypeError, ValueError) as err:  # a value of the wrong kind
            raise SidecarError(f"{where}: {err}") from None

    @classmethod
    def read(cls, path: str) -> "Sidecar":
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as err:
            raise SidecarError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
        if not isinstance(data, dict):
            raise SidecarError(f"{path}: expected a JSON object")
        return cls.from_dict(data, path)
