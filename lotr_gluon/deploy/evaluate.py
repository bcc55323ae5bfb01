"""Evaluate a checkpoint or an exported model on a labelled split (what tools/eval.py does):
Table-2 lines, ``metrics.json``, per-image NME and the CED plot."""
from __future__ import annotations

import os
from typing import Dict, List, Optional

import mxnet as mx
import numpy as np

from ..data.dataset import make_loader, open_dataset
from ..data.formats import FORMATS
from ..data.landmarks import get_schema
from ..engine.builders import build_dataset, model_from_checkpoint, schema_of, start_of
from ..engine.evaluator import (evaluate, gluon_predictor, mean_shape_in_photo,
                                read_per_image_nme, table2_line, write_report)
from ..engine.linear_floor import linear_floor_nme
from ..heatmap_codec import OutputSpec
from ..viz import plot_ced
from .model_files import find_exported, load_symbol_block


def _floors(cfg, input_size: int, dataset, matrices: np.ndarray, photo_gt: np.ndarray,
            linear_floor: bool) -> Dict[str, float]:
    """The mean shape's NME (and the linear floor's, when asked) on ``dataset`` (whose photo
    frame is ``matrices``, ``photo_gt``), from the config's training split; empty when that
    split is not there."""
    try:
        train = build_dataset(cfg, "train", input_size, augment=False, report=lambda _: None)
    except (OSError, ValueError):
        return {}
    floors = {"mean_shape_nme": mean_shape_in_photo(train.aligned_landmarks(), matrices,
                                                    photo_gt)}
    if linear_floor:
        floors["linear_floor_nme"] = linear_floor_nme(train, dataset)[0]
    return floors


def run_evaluation(checkpoint: Optional[str] = None, model_dir: Optional[str] = None,
                   split: str = "val", data: Optional[str] = None, fmt: Optional[str] = None,
                   out_dir: str = "eval", batch_size: int = 32, compare: List[str] = (),
                   report=print, align_source: Optional[str] = None,
                   detections: Optional[str] = None, linear_floor: bool = False) -> Dict:
    """Evaluate a checkpoint or an exported model; print Table-2 lines; write the report.

    ``align_source`` (``ground_truth`` or ``detector``, see :func:`open_dataset`) defaults to
    the run's ``data.align_source`` for a checkpoint and to ``ground_truth`` for an exported
    model; ``detections`` is the folder of ``SPLIT.jsonl`` when not beside the data.
    ``linear_floor`` also fits and scores the ridge-on-HOG floor (:mod:`..engine.linear_floor`)
    from the run's training split.
    """
    if checkpoint:
        net, cfg, epochs = model_from_checkpoint(checkpoint)
        if fmt:
            cfg.data.format = fmt
        if align_source:
            cfg.data.align_source = align_source
        if detections:
            cfg.data.detections = detections
        schema = schema_of(cfg)
        dataset = build_dataset(cfg, split, net.input_size, augment=False, path=data,
                                report=report)
        face_fraction = cfg.data.face_fraction
        label = f"{cfg.model.name} ({epochs} ep)"
        spec = OutputSpec.of(net)
    else:
        if not data:
            raise ValueError("--model needs --data: the dataset folder to evaluate")
        model = find_exported(model_dir)
        net = load_symbol_block(model)
        schema = get_schema(model.sidecar.get("schema", "jd106"))
        fmt = fmt or next((k for k, v in FORMATS.items() if v.schema == schema.name), "jd106")
        face_fraction = model.sidecar["face_fraction"]
        dataset = open_dataset(data, fmt, schema, model.sidecar["input_size"], face_fraction,
                               report=report, align=model.sidecar.get("align", "five_point"),
                               align_source=align_source or "ground_truth",
                               detections=detections)
        cfg, label = None, model.name
        spec = OutputSpec.from_sidecar(model.sidecar)
    loader, _ = make_loader(dataset, batch_size, shuffle=False)
    in_crops = evaluate(gluon_predictor(net, mx.cpu(), spec), loader, schema.flip_perm,
                        progress=True)
    matrices, photo_gt = dataset.photo_frame()
    result = in_crops.in_photo(matrices, photo_gt)  # the JD protocol: NME in the photo
    extra = {"model": label, "face_fraction": face_fraction, "frame": "photo",
             "alignment": dataset.alignment.as_dict(), "crop_frame": in_crops.metrics()}
    if cfg is not None:
        extra["start"] = start_of(cfg)  # how the evaluated run's weights started
    if cfg is not None and data is None:
        extra.update(_floors(cfg, net.input_size, dataset, matrices, photo_gt, linear_floor))
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
