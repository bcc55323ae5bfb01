"""Evaluate a checkpoint or an exported model on a labelled split (what tools/eval.py does):
Table-2 lines, ``metrics.json``, per-image NME and the CED plot."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Dict, Optional, Sequence

import mxnet as mx
import numpy as np

from .config import Config, ConfigError
from .data.data_config import DataConfig
from .data.dataset import make_loader, open_dataset
from .data.formats import FORMATS
from .deploy.backends import DEFAULT_BACKEND, make_runner, resolve_backend
from .deploy.model_files import find_exported
from .engine.builders import build_dataset, model_from_checkpoint, start_of
from .engine.evaluator import (
    Predict,
    evaluate,
    gluon_predictor,
    mean_shape_in_photo,
    read_per_image_nme,
    table2_line,
    write_report,
)
from .engine.linear_floor import linear_floor_nme
from .errors import UserError
from .heatmap_codec import OutputSpec
from .viz import plot_ced


@dataclass(frozen=True)
class _Subject:
    """What is evaluated: crops -> landmarks (decoded), the faces (their cropper says the
    schema and the crop), and the run behind it."""

    predict: Predict
    input_size: int
    dataset: object
    label: str
    cfg: Optional[Config] = None  # the run's config (None for an exported model)
    backend: Optional[str] = None  # the inference backend an exported model ran on


def _checkpoint_subject(checkpoint: str, split: str, data: Optional[str], fmt: Optional[str],
                        align_source: Optional[str], detections: Optional[str],
                        report) -> _Subject:
    net, cfg, epochs = model_from_checkpoint(checkpoint)
    changes = {key: value for key, value in (("format", fmt), ("align_source", align_source),
                                             ("detections", detections)) if value}
    data_cfg = replace(cfg.data, **changes)  # the run's config itself stays as it was trained
    dataset = build_dataset(data_cfg, split, net.input_size, path=data, report=report)
    return _Subject(gluon_predictor(net, mx.cpu(), OutputSpec.of(net)), net.input_size, dataset,
                    f"{cfg.model.name} ({epochs} ep)", replace(cfg, data=data_cfg))


def _exported_subject(model_dir: str, data: str, fmt: Optional[str],
                      align_source: Optional[str], detections: Optional[str],
                      backend: str, report) -> _Subject:
    model = find_exported(model_dir)
    meta = model.sidecar
    # A built-in markup names its format; a custom one (its definition in the sidecar) is read
    # from a COCO file unless --format says otherwise.
    fmt = fmt or next((k for k, v in FORMATS.items() if v.schema == meta.schema), "coco")
    schema = None if FORMATS.get(fmt) and FORMATS[fmt].schema == meta.schema else \
        meta.landmark_schema.to_dict()
    data_cfg = DataConfig(format=fmt, schema=schema, face_fraction=meta.crop.face_fraction,
                          align=meta.crop.align, align_source=align_source or meta.align_source,
                          detections=detections)
    dataset = open_dataset(data, data_cfg, meta.crop, report=report)
    backend = resolve_backend(model, backend)
    return _Subject(make_runner(model, backend), meta.input_size, dataset,
                    f"{model.name} ({backend})", backend=backend)


def _floors(cfg: Config, input_size: int, dataset, matrices: np.ndarray, photo_gt: np.ndarray,
            linear_floor: bool, schema, report) -> Dict[str, float]:
    """The mean shape's NME (and the linear floor's, when asked) on ``dataset`` (whose photo
    frame is ``matrices``, ``photo_gt``), from the run's training split; empty, with a line
    saying why, when that split is not on this machine."""
    try:
        train = build_dataset(cfg.data, "train", input_size, report=lambda _: None)
    except ConfigError as err:  # only resolving the split raises it
        report(f"no mean-shape floor: the run's training split is not here ({err})")
        return {}
    floors = {"mean_shape_nme": mean_shape_in_photo(train.aligned_landmarks(), matrices,
                                                    photo_gt, schema)}
    if linear_floor:
        floors["linear_floor_nme"] = linear_floor_nme(train, dataset)[0]
    return floors


def run_evaluation(checkpoint: Optional[str] = None, model_dir: Optional[str] = None, *,
                   split: str = "val", data: Optional[str] = None, fmt: Optional[str] = None,
                   out_dir: str = "eval", batch_size: int = 32, compare: Sequence[str] = (),
                   report=print, align_source: Optional[str] = None,
                   detections: Optional[str] = None, linear_floor: bool = False,
                   backend: str = DEFAULT_BACKEND) -> Dict:
    """Evaluate a checkpoint or an exported model; print Table-2 lines; write the report.

    An exported model runs on ``backend`` (default: the Predictor's, so the score is that of
    what serves; see :mod:`.deploy.backends`).

    ``align_source`` (``ground_truth`` or ``detector``, see :func:`open_dataset`) defaults to
    the one the model was trained with (the run's ``data.align_source``, or the export's
    sidecar), so a checkpoint and its export give the same numbers; ``detections`` is the
    folder of ``SPLIT.jsonl`` when not beside the data.
    The floors (the mean shape's NME, and with ``linear_floor`` the ridge-on-HOG floor of
    :mod:`..engine.linear_floor`) come from the run's training split, so they need a
    checkpoint and one of its configured splits.
    """
    if bool(checkpoint) == bool(model_dir):
        raise UserError("evaluate either a checkpoint or an exported model folder")
    if model_dir and not data:
        raise UserError("--model needs --data: the dataset folder to evaluate")
    if linear_floor and (model_dir or data):
        raise UserError("--linear-floor fits on the run's training split and scores one of "
                         "its splits: give --checkpoint without --data")
    subject = (_checkpoint_subject(checkpoint, split, data, fmt, align_source, detections,
                                   report) if checkpoint else
               _exported_subject(model_dir, data, fmt, align_source, detections, backend,
                                 report))
    dataset, label, cfg = subject.dataset, subject.label, subject.cfg
    schema, face_fraction = dataset.cropper.schema, dataset.cropper.crop.face_fraction
    loader, _ = make_loader(dataset, batch_size, shuffle=False)
    # NME divided by the schema's own normaliser, in the crops and in the photo (the JD rule)
    in_crops = evaluate(subject.predict, loader, schema.flip_perm, schema=schema, progress=True)
    matrices, photo_gt = dataset.photo_frame()
    result = in_crops.in_photo(matrices, photo_gt, schema=schema)
    extra = {"model": label, "face_fraction": face_fraction, "frame": "photo",
             "normaliser": schema.normaliser, "schema": schema.name,
             "alignment": dataset.alignment.as_dict(), "damaged": dataset.damaged_record(),
             "crop_frame": in_crops.metrics()}
    if cfg is not None:
        extra["start"] = start_of(cfg)  # how the evaluated run's weights started
    if subject.backend is not None:
        extra["backend"] = subject.backend
    if cfg is not None and data is None:
        extra.update(_floors(cfg, subject.input_size, dataset, matrices, photo_gt, linear_floor,
                             schema, report))
    names = [os.path.relpath(s.image_path) for s in dataset.samples]
    out = write_report(out_dir, result, names, extra)
    for mode in ("no_flip", "flip"):
        report(table2_line(f"{mode}", out[mode]))
    crop = out["crop_frame"]
    report(f"(in the aligned crops instead of the photo: NME {crop['no_flip']['nme'] * 100:.2f} "
           f"/ {crop['flip']['nme'] * 100:.2f} with flip)")
    if "mean_shape_nme" in out:
        report(f"mean shape   NME {out['mean_shape_nme'] * 100:5.2f}  (predicting the training "
               f"mean shape for every face)")
    if "linear_floor_nme" in out:
        report(f"linear floor NME {out['linear_floor_nme'] * 100:5.2f}  (ridge regression on HOG "
               f"features of the training crops)")
    curves = {f"{label}, flip": result.nme_flip, f"{label}, no flip": result.nme}
    for run in compare:
        curves[f"{os.path.basename(os.path.normpath(run))}, flip"] = read_per_image_nme(run)
    plot_ced(curves, os.path.join(out_dir, "ced.png"))
    return out
