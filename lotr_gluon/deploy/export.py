"""Export a model as MXNet ``NAME-symbol.json`` + ``NAME-0000.params`` with a JSON sidecar,
and optionally as ONNX (see :mod:`.onnx_export`)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Dict, Optional, Sequence, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..data.crop_spec import CropSpec
from ..data.landmarks import REGISTRY, LandmarkSchema, get_schema
from ..errors import UserError
from ..fileio import atomic_path, atomic_write_text
from .onnx_export import check_flavors, export_onnx
from .quantize import calibration_crops, quantize_int8
from .sidecar import PRECISIONS, Sidecar


def schema_with_points(num_points: int) -> LandmarkSchema:
    """The registered schema with ``num_points`` points (jd106 for 106, 300w68 for 68, ...)."""
    for name in REGISTRY.names():
        if get_schema(name).num_points == num_points:
            return get_schema(name)
    raise UserError(f"no landmark schema has {num_points} points; register one with "
                     f"lotr_gluon.data.landmarks.load_schema")


def export_symbol(net: gluon.HybridBlock, out_dir: str, name: str,
                  schema: Optional[LandmarkSchema] = None, crop: Optional[CropSpec] = None,
                  trained: bool = True, align_source: str = "ground_truth",
                  onnx: Sequence[str] = (), precision: str = "float32",
                  calibration: Optional[np.ndarray] = None) -> Dict[str, str]:
    """Hybridize ``net`` and write its graph, weights and a sidecar into ``out_dir``.

    The exported graph takes float32 RGB 0..255 NCHW crops of ``net.input_size`` and returns
    ``(B, N, 2)`` crop-pixel coordinates; it loads with ``mxnet.gluon.SymbolBlock.imports``
    and needs no code from this package. Every file is written atomically.

    Parameters
    ----------
    crop : CropSpec, optional
        The crop the network was trained on (default: five points at ``net.input_size``):
        written into the sidecar, from which the Predictor cuts its crops the same way.
    align_source : str
        Where the training faces' five points came from (``data.align_source``), so that an
        evaluation of the export aligns its faces as the checkpoint's does.
    onnx : sequence of str
        ONNX flavors to write as well: ``lotr`` gives ``NAME.onnx`` (what the Predictor's
        onnxruntime backend loads), ``insightface`` gives ``NAME_insightface.onnx``, for a
        192 px coordinate model with ``align="bbox"`` only (:func:`.onnx_export.check_flavors`:
        insightface feeds it a box crop).
    precision : str
        ``float32``, or ``int8``: the backbone quantized by MXNet's oneDNN path, calibrated on
        ``calibration`` crops (:mod:`.quantize`); CPU only, no ONNX.

    Returns
    -------
    dict
        Paths of the ``symbol``, ``params`` and ``sidecar`` files and of each ONNX flavor.
    """
    schema = schema or schema_with_points(net.num_points)
    if schema.num_points != net.num_points:
        raise UserError(f"schema {schema.name} has {schema.num_points} points, the model "
                         f"{net.num_points}")
    size = net.input_size
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if precision == "int8" and (onnx or calibration is None):
        raise UserError("an int8 export needs calibration crops and writes no ONNX (quantize "
                         "ONNX with onnxruntime's own tools)")
    crop = crop or CropSpec(int(size))
    sidecar = Sidecar.of(name, net, schema, crop, trained, align_source, precision)
    check_flavors(onnx, sidecar)  # before anything is written
    net.hybridize(static_alloc=True, static_shape=True)
    net(mx.nd.zeros((1, 3, size, size)))  # builds the cached graph that export() writes
    os.makedirs(out_dir, exist_ok=True)
    paths = {"symbol": os.path.join(out_dir, f"{name}-symbol.json"),
             "params": os.path.join(out_dir, f"{name}-0000.params"),
             "sidecar": os.path.join(out_dir, f"{name}.json")}
    staging = tempfile.mkdtemp(prefix=".export-", dir=out_dir)
    try:
        net.export(os.path.join(staging, name), epoch=0)
        if precision == "int8":
            prefix = os.path.join(staging, name)
            quantized = quantize_int8(prefix + "-symbol.json", prefix + "-0000.params",
                                      calibration)
            quantized.export(prefix, epoch=0)  # over the float32 files
        for key in ("symbol", "params"):
            with atomic_path(paths[key]) as tmp:
                shutil.copyfile(os.path.join(staging, os.path.basename(paths[key])), tmp)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    atomic_write_text(paths["sidecar"], json.dumps(sidecar.to_dict(), indent=2) + "\n")
    for flavor in onnx:
        key = "onnx" if flavor == "lotr" else f"onnx_{flavor}"
        suffix = "" if flavor == "lotr" else f"_{flavor}"
        paths[key] = export_onnx(paths["symbol"], paths["params"],
                                 os.path.join(out_dir, f"{name}{suffix}.onnx"), sidecar,
                                 flavor)
    return paths


def export_checkpoint(checkpoint: str, out_dir: str, onnx: Sequence[str] = (),
                      precision: str = "float32") -> Tuple[Dict[str, str], str, int]:
    """Export a trained run (folder or ``.ckpt``) with the schema, crop and alignment it was
    trained with; returns ``(paths, model name, epochs trained)``. ``int8`` calibrates on
    the run's training split, which must be on this machine."""
    from ..engine.builders import build_dataset, model_from_checkpoint, schema_of

    net, cfg, epochs = model_from_checkpoint(checkpoint)
    calibration = None
    if precision == "int8":
        train = build_dataset(cfg.data, "train", net.input_size, report=lambda _: None)
        calibration = calibration_crops(train)
    paths = export_symbol(net, out_dir, cfg.model.name, schema_of(cfg),
                          CropSpec.of(cfg.data, net.input_size),
                          align_source=cfg.data.align_source, onnx=onnx,
                          precision=precision, calibration=calibration)
    return paths, cfg.model.name, epochs
