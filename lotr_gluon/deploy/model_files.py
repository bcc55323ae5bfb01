"""Find and load an exported model folder (``NAME-symbol.json``, ``-0000.params``, ``.json``)."""
from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass
from typing import Optional

import mxnet as mx

from ..errors import UserError
from .sidecar import Sidecar


@dataclass(frozen=True)
class ExportedModel:
    """The files of an exported model and its parsed sidecar."""

    symbol: str
    params: str
    sidecar: Sidecar
    onnx: Optional[str]

    @property
    def name(self) -> str:
        return self.sidecar.model


def find_exported(model_dir: str) -> ExportedModel:
    """The exported model in ``model_dir`` (the folder tools/export.py wrote)."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"{model_dir}: model folder does not exist; make one with "
                                f"tools/export.py --checkpoint RUN_DIR --out {model_dir}")
    symbols = sorted(glob.glob(os.path.join(model_dir, "*-symbol.json")))
    if len(symbols) != 1:
        raise FileNotFoundError(f"{model_dir}: expected one NAME-symbol.json, found "
                                f"{len(symbols)}; make the folder with tools/export.py")
    prefix = symbols[0][: -len("-symbol.json")]
    params, sidecar_path = prefix + "-0000.params", prefix + ".json"
    for path in (params, sidecar_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: missing beside {symbols[0]}; re-run "
                                    f"tools/export.py")
    onnx = prefix + ".onnx"
    return ExportedModel(symbols[0], params, Sidecar.read(sidecar_path),
                         onnx if os.path.isfile(onnx) else None)


def onednn_available() -> bool:
    """Whether this MXNet build has oneDNN (named MKLDNN in MXNet 1.x)."""
    return mx.runtime.Features().is_enabled("MKLDNN")


def load_symbol_block(model: ExportedModel, ctx: Optional[mx.Context] = None,
                      onednn: bool = True) -> mx.gluon.SymbolBlock:
    """The exported graph as a hybridized SymbolBlock (static memory and shapes).

    On CPU with ``onednn`` (and an MXNet built with it, as the pip wheels are) the graph is
    partitioned for oneDNN's fused subgraphs (conv+bn+relu, fused attention matmuls), several
    times faster than the plain static graph (docs/benchmarks.md).
    """
    ctx = ctx or mx.cpu()
    with warnings.catch_warnings():  # "Cannot decide type for ... data": harmless, float32
        warnings.simplefilter("ignore", UserWarning)
        net = mx.gluon.SymbolBlock.imports(model.symbol,
                                           [model.sidecar.input_name],
                                           model.params, ctx=ctx)
    if model.sidecar.precision == "int8":  # quantized and fused for oneDNN already
        if ctx.device_type != "cpu":
            raise UserError(f"{model.symbol}: an int8 export runs on the CPU (oneDNN) only")
        net.hybridize(static_alloc=True, static_shape=True)
    elif onednn and ctx.device_type == "cpu" and onednn_available():
        size = model.sidecar.input_size
        net.optimize_for(mx.nd.zeros((1, 3, size, size), ctx=ctx), backend="MKLDNN",
                         static_alloc=True, static_shape=True)
    else:
        net.hybridize(static_alloc=True, static_shape=True)
    return net
