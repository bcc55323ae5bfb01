"""One checkpoint file: parameters, optimizer state, epoch, best metric and the config.

Written with MXNet's ``nd.save`` to a temporary file and renamed into place, so a reader (or
a resumed run after ``kill -9``) sees the previous checkpoint or the new one, never half.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, Optional

import mxnet as mx
import numpy as np
from mxnet import gluon

from ..errors import UserError
from ..fileio import atomic_path

_PARAM = "param:"
_TRAINER = "__trainer__"
_META = "__meta__"


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns besides filling the network."""

    epoch: int  # epochs completed
    best_metric: Optional[float]
    config: Dict[str, Any]
    extra: Dict[str, Any]


def _bytes_to_nd(data: bytes) -> mx.nd.NDArray:
    return mx.nd.array(np.frombuffer(data, dtype=np.uint8), dtype=np.uint8)


def save_checkpoint(path: str, net: gluon.Block, trainer: Optional[gluon.Trainer], epoch: int,
                    best_metric: Optional[float], config: Dict[str, Any],
                    extra: Optional[Dict[str, Any]] = None) -> None:
    """Write everything needed to resume or deploy ``net`` to ``path``, atomically."""
    arrays = {_PARAM + name: p.data().as_in_context(mx.cpu())
              for name, p in net._collect_params_with_prefix().items()}
    if trainer is not None:
        fd, tmp = tempfile.mkstemp(suffix=".states")
        os.close(fd)
        try:
            trainer.save_states(tmp)
            with open(tmp, "rb") as f:
                arrays[_TRAINER] = _bytes_to_nd(f.read())
        finally:
            os.remove(tmp)
    meta = {"epoch": epoch, "best_metric": best_metric, "config": config,
            "extra": extra or {}}
    arrays[_META] = _bytes_to_nd(json.dumps(meta).encode("utf-8"))
    with atomic_path(path) as tmp:
        mx.nd.save(tmp, arrays)


def read_checkpoint_meta(path: str) -> Checkpoint:
    """Epoch, best metric and config of a checkpoint without building a network."""
    return _meta(_load(path), path)


def _load(path: str) -> Dict[str, mx.nd.NDArray]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: checkpoint does not exist")
    try:
        arrays = mx.nd.load(path)
    except mx.base.MXNetError:
        raise UserError(f"{path}: not a readable lotr_gluon checkpoint") from None
    if not isinstance(arrays, dict) or _META not in arrays:
        raise UserError(f"{path}: not a lotr_gluon checkpoint (no metadata)")
    return arrays


def _meta(arrays: Dict[str, mx.nd.NDArray], path: str) -> Checkpoint:
    meta = json.loads(arrays[_META].asnumpy().tobytes().decode("utf-8"))
    return Checkpoint(meta["epoch"], meta["best_metric"], meta["config"], meta.get("extra", {}))


def load_checkpoint(path: str, net: gluon.Block, trainer: Optional[gluon.Trainer] = None,
                    ctx=None) -> Checkpoint:
    """Fill ``net`` (and ``trainer``'s optimizer state) from ``path``; return the metadata."""
    arrays = _load(path)
    params = net._collect_params_with_prefix()
    stored = {k[len(_PARAM):]: v for k, v in arrays.items() if k.startswith(_PARAM)}
    missing = sorted(set(params) - set(stored))
    if missing:
        raise UserError(f"{path}: checkpoint does not fit this model (missing {missing[:3]}"
                         f"{' ...' if len(missing) > 3 else ''})")
    ctx = ctx or [mx.cpu()]
    for name, param in params.items():
        value = stored[name]
        if param.shape is not None and 0 not in param.shape and param.shape != value.shape:
            raise UserError(f"{path}: {name} has shape {value.shape}, the model expects "
                             f"{param.shape}")
        param._load_init(value, ctx if isinstance(ctx, list) else [ctx])
    if trainer is not None and _TRAINER in arrays:
        fd, tmp = tempfile.mkstemp(suffix=".states")
        os.close(fd)
        try:
            with open(tmp, "wb") as f:
                f.write(arrays[_TRAINER].asnumpy().tobytes())
            trainer.load_states(tmp)
        finally:
            os.remove(tmp)
    return _meta(arrays, path)
