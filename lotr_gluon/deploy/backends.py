"""Inference backends for an exported model: a function from float32 crops to landmarks.

``mxnet``
    the symbol/params graph, hybridized with static memory and shapes; on CPU partitioned for
    oneDNN's fused subgraphs. The Predictor's default.
``mxnet-static``
    the same graph without the oneDNN partitioning (for comparison; what a GPU runs).
``onnxruntime``
    ``NAME.onnx`` from ``tools/export.py --onnx`` on onnxruntime's CPU provider.
``opencv``
    the same ``NAME.onnx`` in OpenCV's DNN module (``cv2.dnn``): no MXNet and no onnxruntime
    in the loop, as a C++ or Python OpenCV deployment runs it.

For inference on CPU, start the process with ``MXNET_ENGINE_TYPE=NaiveEngine`` (it must be
set before mxnet is imported; tools/predict.py and tools/benchmark.py do). Measured on 2
cores, LOTR-M, oneDNN graph: with MXNet's default threaded engine batch 1 takes 4.5 ms until
the process has run any other input shape (a flip-TTA batch of 2, a second photo with more
faces), and 16 ms from then on; batch 2 takes 20 ms. With the naive engine: 4.1 ms and
6.7 ms, stable. The threaded engine's only gain, overlapping independent operations, does
not apply to one forward pass at a time.
"""
from __future__ import annotations

from typing import Callable, Optional

import mxnet as mx
import numpy as np

from ..gpu_support import check_gpus
from .model_files import ExportedModel, load_symbol_block
from .onnx_export import onnx_session, opencv_net, run_onnx, run_opencv

BACKENDS = ("mxnet", "mxnet-static", "onnxruntime", "opencv")
DEFAULT_BACKEND = "mxnet"
Runner = Callable[[np.ndarray], np.ndarray]


def make_runner(model: ExportedModel, backend: str = DEFAULT_BACKEND,
                ctx: Optional[mx.Context] = None, decode: bool = True) -> Runner:
    """``crops (B, 3, S, S) float32 -> (B, N, 2)`` numpy, on the chosen backend.

    Heatmap and vector models are decoded to coordinates (argmax + DARK) unless ``decode`` is
    False, which returns the raw network output (the benchmark times the two apart).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if backend in ("onnxruntime", "opencv"):
        if model.onnx is None:
            raise FileNotFoundError(f"{model.symbol}: no {model.name}.onnx beside it; export "
                                    f"with tools/export.py --onnx")
        if backend == "onnxruntime":
            session = onnx_session(model.onnx)
            network = lambda crops: run_onnx(session, crops)  # noqa: E731
        else:
            net = opencv_net(model.onnx)
            network = lambda crops: run_opencv(net, crops)  # noqa: E731
    else:
        ctx = ctx or mx.cpu()
        if ctx.device_type == "gpu":
            check_gpus([ctx.device_id])
        net = load_symbol_block(model, ctx, onednn=backend == "mxnet")
        network = lambda crops: net(mx.nd.array(crops, ctx=ctx)).asnumpy()  # noqa: E731
    spec = model.sidecar.output
    if decode and spec.needs_decoding:
        return lambda crops: spec.decode(network(crops))
    return network
