"""Inference backends for an exported model: a function from float32 crops to landmarks.

``auto``
    the Predictor's default, the fastest measured that can run the export (a float32 export
    with ``NAME.onnx`` beside it, a CPU context): ``openvino-bf16`` on a CPU with bfloat16
    instructions and OpenVINO installed (0.6x onnxruntime's batch-1 latency, NME within 1%),
    else ``onnxruntime`` (ahead of OpenVINO's float32 on a CPU without them), else ``mxnet``;
    onnxruntime is also ahead of ``mxnet`` in batches and in the tracker (docs/benchmarks.md).
    An int8 export runs on ``mxnet`` only.
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
``openvino``, ``openvino-bf16``
    the same ``NAME.onnx`` compiled by OpenVINO for this CPU (the optional ``openvino``
    extra), in float32 or bfloat16 (:mod:`.openvino_runtime`).

A runner may be called from several threads at once and answers each call as if it were
alone: onnxruntime's sessions are thread-safe and run side by side; MXNet's cached graphs and
OpenCV's DNN nets are not, so their forwards take turns under a lock of the runner's own.
Decoding heatmap and vector outputs runs outside the lock.

For inference on CPU, run under MXNet's ``NaiveEngine`` (``lotr_gluon.runtime``): with the
default threaded engine a forward slows down several times once the process has run a second
input shape (a flip-TTA batch, a photo with more faces), and its only gain, overlapping
independent operations, does not apply to one forward pass at a time (docs/benchmarks.md).
"""
from __future__ import annotations

import threading
import warnings
from typing import Callable, Optional, Tuple

import mxnet as mx
import numpy as np

from ..errors import UserError
from ..gpu_support import check_gpus
from ..runtime import cpu_capabilities, openvino_available
from .model_files import ExportedModel, load_symbol_block
from .onnx_export import onnx_session, opencv_net, run_onnx, run_opencv
from .openvino_runtime import PRECISIONS as OPENVINO_PRECISIONS
from .openvino_runtime import OpenVINONetwork
from .thread_split import ThreadSplitNetwork, splitting_supported

BACKENDS = ("mxnet", "mxnet-static", "onnxruntime", "opencv", *OPENVINO_PRECISIONS)
AUTO = "auto"
DEFAULT_BACKEND = AUTO
Runner = Callable[[np.ndarray], np.ndarray]
ONNX_BACKENDS = ("onnxruntime", "opencv", *OPENVINO_PRECISIONS)  # the ones that run NAME.onnx
# Said once (Python's default warning filter) to a Python user whose process runs MXNet's
# threaded engine, where the mxnet backend neither splits batches nor keeps its latency.
ENGINE_ADVICE = ("the mxnet backend runs faster under MXNet's NaiveEngine, which splits a "
                 "batch of crops over threads: call lotr_gluon.runtime.configure_runtime("
                 "engine='NaiveEngine') before importing mxnet or lotr_gluon's models "
                 "(tools/predict.py does), or set MXNET_ENGINE_TYPE=NaiveEngine")


def _one_at_a_time(network: Runner) -> Runner:
    """``network`` behind a lock of its own: a call waits until the one running returns."""
    lock = threading.Lock()

    def run(crops: np.ndarray) -> np.ndarray:
        with lock:
            return network(crops)

    return run


def available_backends() -> Tuple[str, ...]:
    """The :data:`BACKENDS` whose runtime is installed here (OpenVINO and onnxruntime are
    optional extras)."""
    import importlib.util

    installed = {"onnxruntime": importlib.util.find_spec("onnxruntime") is not None}
    installed.update(dict.fromkeys(OPENVINO_PRECISIONS, openvino_available()))
    return tuple(b for b in BACKENDS if installed.get(b, True))


def resolve_backend(model: ExportedModel, backend: str = DEFAULT_BACKEND,
                    ctx: Optional[mx.Context] = None) -> str:
    """The backend ``backend`` names for ``model``: itself, or for ``auto`` the faster one
    that can run it (see the module docstring)."""
    if backend != AUTO:
        return backend
    if (model.onnx is None or model.sidecar.precision != "float32"
            or (ctx is not None and ctx.device_type != "cpu")):
        return "mxnet"
    if openvino_available() and "BF16" in cpu_capabilities():
        return "openvino-bf16"
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
        raise UserError(f"unknown backend {backend!r}; expected {AUTO} or one of {BACKENDS}")
    if backend in ONNX_BACKENDS:
        if model.onnx is None:
            raise FileNotFoundError(f"{model.symbol}: no {model.name}.onnx beside it; export "
                                    f"with tools/export.py --onnx")
        if backend == "onnxruntime":
            session = onnx_session(model.onnx, spinning=back_to_back)
            network = lambda crops: run_onnx(session, crops)  # noqa: E731
        elif backend in OPENVINO_PRECISIONS:
            network = OpenVINONetwork(model.onnx, OPENVINO_PRECISIONS[backend])
        else:
            net = opencv_net(model.onnx)
            network = _one_at_a_time(lambda crops: run_opencv(net, crops))
    else:
        ctx = ctx or mx.cpu()
        if ctx.device_type == "gpu":
            check_gpus([ctx.device_id])
        load = lambda: load_symbol_block(model, ctx, onednn=backend == "mxnet")  # noqa: E731
        if ctx.device_type == "cpu" and splitting_supported():
            network = ThreadSplitNetwork(load, ctx)  # takes its calls one at a time itself
        else:
            if ctx.device_type == "cpu":
                warnings.warn(ENGINE_ADVICE, RuntimeWarning, stacklevel=2)
            net = load()
            network = _one_at_a_time(lambda crops: net(mx.nd.array(crops, ctx=ctx)).asnumpy())
    spec = model.sidecar.output
    if decode and spec.needs_decoding:
        return lambda crops: spec.decode(network(crops))
    return network
