"""Inference backends for an exported model: a function from float32 crops to landmarks.

``auto``
    the Predictor's default: ``onnxruntime`` where it can run the export (a float32 export
    with ``NAME.onnx`` beside it, onnxruntime installed, a CPU context), else ``mxnet``. On
    this project's 2-core CPU onnxruntime was 1.1-1.7x faster at batch 1 for the 192 px
    LOTR-M and LOTR-M+ and 1.05-1.44x for LOTR-R+; for the 128 px demo LOTR-M the two were
    within the machine's noise for one crop (4.8-5.9 against 4.6-6.8 ms) and onnxruntime ran
    the tracker faster (1.9-2.5x per-frame detection's frame rate against 1.7-1.8x). See the
    README, "Deployment" and "Speed". An int8 export runs on ``mxnet`` only.
``mxnet``
    the symbol/params graph, hybridized with static memory and shapes; on CPU partitioned for
    oneDNN's fused subgraphs, and under the NaiveEngine a batch of two or more crops is split
    over threads with a graph each (:mod:`.thread_split`).
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
from .thread_split import ThreadSplitNetwork, splitting_supported

BACKENDS = ("mxnet", "mxnet-static", "onnxruntime", "opencv")
AUTO = "auto"
DEFAULT_BACKEND = AUTO
Runner = Callable[[np.ndarray], np.ndarray]


def resolve_backend(model: ExportedModel, backend: str = DEFAULT_BACKEND,
                    ctx: Optional[mx.Context] = None) -> str:
    """The backend ``backend`` names for ``model``: itself, or for ``auto`` the faster one
    that can run it (see the module docstring)."""
    if backend != AUTO:
        return backend
    if (model.onnx is None or model.sidecar.precision != "float32"
            or (ctx is not None and ctx.device_type != "cpu")):
        return "mxnet"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "mxnet"
    return "onnxruntime"


def make_runner(model: ExportedModel, backend: str = DEFAULT_BACKEND,
                ctx: Optional[mx.Context] = None, decode: bool = True,
                back_to_back: bool = False) -> Runner:
    """``crops (B, 3, S, S) float32 -> (B, N, 2)`` numpy, on the chosen backend (``auto``:
    :func:`resolve_backend`).

    Heatmap and vector models are decoded to coordinates (argmax + DARK) unless ``decode`` is
    False, which returns the raw network output (the benchmark times the two apart).
    ``back_to_back`` tunes onnxruntime for forwards run one after another with nothing
    between them (its threads spin, as by its own default; see
    :func:`..onnx_export.onnx_session`): what the speed benchmark measures. MXNet's OpenMP
    threads spin either way.
    """
    backend = resolve_backend(model, backend, ctx)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected {AUTO} or one of {BACKENDS}")
    if backend in ("onnxruntime", "opencv"):
        if model.onnx is None:
            raise FileNotFoundError(f"{model.symbol}: no {model.name}.onnx beside it; export "
                                    f"with tools/export.py --onnx")
        if backend == "onnxruntime":
            session = onnx_session(model.onnx, spinning=back_to_back)
            network = lambda crops: run_onnx(session, crops)  # noqa: E731
        else:
            net = opencv_net(model.onnx)
            network = lambda crops: run_opencv(net, crops)  # noqa: E731
    else:
        ctx = ctx or mx.cpu()
        if ctx.device_type == "gpu":
            check_gpus([ctx.device_id])
        load = lambda: load_symbol_block(model, ctx, onednn=backend == "mxnet")  # noqa: E731
        if ctx.device_type == "cpu" and splitting_supported():
            network = ThreadSplitNetwork(load, ctx)
        else:
            net = load()
            network = lambda crops: net(mx.nd.array(crops, ctx=ctx)).asnumpy()  # noqa: E731
    spec = model.sidecar.output
    if decode and spec.needs_decoding:
        return lambda crops: spec.decode(network(crops))
    return network
