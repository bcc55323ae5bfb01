"""ONNX export of an exported MXNet graph: our own layout and insightface's ``Landmark`` layout.

MXNet 1.9's ``mx.onnx.export_model`` builds the graph for the opset of the installed ``onnx``
package (19 for onnx 1.14), and its LayerNorm translation then fails the checker (ReduceMean
changed its signature in opset 18). Here the graph is built for opset 13, which every
onnxruntime since 1.7 runs, and checked as a whole model at that opset.

Two flavors:

``lotr``
    input ``data`` float32 RGB 0..255 ``(B, 3, S, S)`` with a dynamic batch; output
    ``(B, N, 2)`` crop pixels. The same contract as the symbol/params export.
``insightface``
    what ``insightface.model_zoo.get_model`` routes to its ``Landmark`` class: input
    ``(1, 3, 192, 192)`` of ``(RGB - 127.5) / 128`` (insightface picks that normalisation for
    graphs that do not start with Sub and Mul nodes), output ``(1, 2N)`` in its ``[-1, 1]``
    crop convention (``pixel = (value + 1) * S // 2``). insightface crops a square of 1.5x the
    detector box around the box centre, without rotation; train with ``data.align: bbox`` so
    the network has seen that crop.
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Iterator, Optional, Sequence

import mxnet as mx
import numpy as np

from ..errors import UserError
from ..fileio import atomic_path
from .sidecar import Sidecar

OPSET = 13
IR_VERSION = 8  # what onnx 1.14 writes for opset 13 models; onnxruntime >= 1.10 reads it
FLAVORS = ("lotr", "insightface")
INSIGHTFACE_INPUT = 192
# insightface's Landmark class reads these prefixes among the first 8 node names as "the graph
# normalises its own input" and then feeds raw pixels; our flavor must not match them.
_INSIGHTFACE_PREPROCESSING_PREFIXES = ("Sub", "_minus", "Mul", "_mul", "bn_data")


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError as err:
        raise ImportError("ONNX export needs the onnx package: pip install -e '.[onnx]'") from err


@contextlib.contextmanager
def _graph_check_deferred() -> Iterator[None]:
    """MXNet checks the bare graph at onnx's newest opset; we check the model at ours instead."""
    import onnx.checker

    original = onnx.checker.check_graph
    onnx.checker.check_graph = lambda *args, **kwargs: None
    try:
        yield
    finally:
        onnx.checker.check_graph = original


def _insightface_wrapper(sym: mx.sym.Symbol, input_size: int) -> mx.sym.Symbol:
    """``(RGB - 127.5) / 128`` in, ``(B, 2N)`` in ``[-1, 1]`` out, around our graph."""
    pixels = mx.sym.var("data") * 128.0 + 127.5
    flat = mx.sym.reshape(sym(data=pixels), shape=(0, -1))
    return flat / float(input_size // 2) - 1.0


def _rename_preprocessing_lookalikes(graph) -> None:
    """Prefix node names that insightface would mistake for built-in input normalisation."""
    for node in graph.node:
        if node.name.startswith(_INSIGHTFACE_PREPROCESSING_PREFIXES):
            node.name = "lotr" + node.name


def _fold_constant_negations(graph) -> None:
    """``Neg`` of a weight becomes a negated weight.

    MXNet's LayerNorm translation ends in ``Sub(x, Neg(beta))``. OpenCV's ONNX importer
    (4.11) cannot take a ``Neg`` whose input is a constant ("Node [Neg] parse error ...
    inputs.size()") and refuses the whole model; onnxruntime folds it either way.
    """
    from onnx import numpy_helper

    weights = {init.name: init for init in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == "Neg" and node.input[0] in weights:
            negated = -numpy_helper.to_array(weights[node.input[0]])
            graph.initializer.append(numpy_helper.from_array(negated, node.output[0]))
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


def _tidy_initializers(graph) -> None:
    """Weights as constants only: drop unused ones and take them out of the graph inputs.

    MXNet's converter lists every weight as a graph input too (the ONNX <= 1.3 style), which
    stops onnxruntime from constant folding, and leaves constants it folded away; onnxruntime
    warns about each.
    """
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    weights = {init.name for init in kept}
    inputs = [value for value in graph.input if value.name not in weights and value.name in used]
    del graph.input[:]
    graph.input.extend(inputs)


def _onnx_model_bytes(symbol_file: str, params_file: str, input_size: int, flavor: str,
                      batch_size: Optional[int]) -> bytes:
    """The serialized, checked ONNX model (runs in a child process, see :func:`export_onnx`)."""
    import onnx
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph

    sym = mx.sym.load(symbol_file)
    loaded = mx.nd.load(params_file)
    params = {key.split(":", 1)[-1]: value for key, value in loaded.items()}
    if flavor == "insightface":
        sym, batch_size = _insightface_wrapper(sym, input_size), 1
    shape = (batch_size or 1, 3, input_size, input_size)
    dynamic = batch_size is None
    with _graph_check_deferred():
        graph = MXNetGraph().create_onnx_graph_proto(
            sym, params, in_shapes=[shape], in_types=[onnx.TensorProto.FLOAT],
            opset_version=OPSET, dynamic=dynamic,
            dynamic_input_shapes=[(None, 3, input_size, input_size)] if dynamic else None)
    _fold_constant_negations(graph)
    _tidy_initializers(graph)
    if flavor == "insightface":
        _rename_preprocessing_lookalikes(graph)
    model = onnx.helper.make_model(graph, producer_name="lotr_gluon",
                                   opset_imports=[onnx.helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


def check_flavors(flavors: Sequence[str], sidecar: Sidecar) -> None:
    """Refuse unknown flavors, and the insightface one for a model it would not recognise
    (another input size), could not use (heatmap or vector outputs) or would feed a crop it
    was not trained on (insightface cuts a box crop: only a ``data.align: bbox`` model has
    learned that one)."""
    unknown = set(flavors) - set(FLAVORS)
    if unknown:
        raise UserError(f"unknown ONNX flavor(s) {sorted(unknown)}; expected {FLAVORS}")
    if "insightface" not in flavors:
        return
    kind, size = sidecar.output.kind, sidecar.input_size
    if kind != "coordinates":
        raise UserError("the insightface flavor needs a coordinate model (LOTR, CNN+FFN); "
                         f"this one outputs {kind}s")
    if size != INSIGHTFACE_INPUT:
        raise UserError(f"the insightface flavor needs a {INSIGHTFACE_INPUT}x"
                         f"{INSIGHTFACE_INPUT} model (insightface recognises landmark models "
                         f"by that input size); this one takes {size}")
    if sidecar.crop.align != "bbox":
        raise UserError(f"the insightface flavor needs a model trained on box crops: "
                        f"insightface feeds it an upright square of 1.5x the detector box, "
                        f"and {sidecar.model} was trained on {sidecar.crop.align} crops "
                        f"(data.align: {sidecar.crop.align}); train one with --set data.align=bbox")


def export_onnx(symbol_file: str, params_file: str, out_file: str, sidecar: Sidecar,
                flavor: str = "lotr", batch_size: Optional[int] = None) -> str:
    """Convert an exported MXNet graph to ONNX (opset 13), written atomically.

    The conversion runs in a child Python process: after MXNet's converter has run in a
    process, MXNet inference there with several OpenMP threads becomes several times slower
    (measured; the cause inside MXNet was not found).

    Parameters
    ----------
    symbol_file, params_file : str
        ``NAME-symbol.json`` and ``NAME-0000.params`` from :func:`export.export_symbol`.
    out_file : str
        The ``.onnx`` file to write.
    sidecar : Sidecar
        The export's sidecar: the crop side ``S`` the graph expects, and what
        :func:`check_flavors` checks the flavor against.
    flavor : str
        ``lotr`` (our contract) or ``insightface`` (see the module docstring).
    batch_size : int, optional
        A fixed batch; None makes the batch dimension dynamic. The insightface flavor is
        always batch 1, as insightface reads the output width from the graph.

    Returns
    -------
    str
        ``out_file``.
    """
    check_flavors([flavor], sidecar)
    _require_onnx()
    args = json.dumps([symbol_file, params_file, sidecar.input_size, flavor, batch_size])
    with atomic_path(out_file) as tmp:
        script = ("import json, sys; from lotr_gluon.deploy.onnx_export import "
                  "_onnx_model_bytes as build; a = json.loads(sys.argv[1]); "
                  "open(sys.argv[2], 'wb').write(build(*a))")
        done = subprocess.run([sys.executable, "-c", script, args, tmp],
                              capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or "").strip().splitlines() or ["no message"]
            raise RuntimeError(f"ONNX conversion of {symbol_file} failed: {lines[-1]}")
    return out_file


def onnx_session(path: str, spinning: bool = False):
    """An onnxruntime CPU session for ``path``, with a clear error when onnxruntime is absent.

    Parameters
    ----------
    path : str
        The ``.onnx`` file.
    spinning : bool
        Let onnxruntime's idle threads spin between runs (its own default). Off by default:
        the spinning threads keep the cores busy after each run while the detector and the
        crops need them. On for back-to-back forwards, where it is onnxruntime's fastest
        setting (both measured in docs/benchmarks.md).
    """
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError("the onnxruntime backend needs onnxruntime: "
                          "pip install -e '.[onnx]'") from err
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning",
                                     "1" if spinning else "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run_onnx(session, crops: np.ndarray) -> np.ndarray:
    """One forward pass of an ONNX session on float32 crops."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: np.ascontiguousarray(crops, dtype=np.float32)})[0]


def opencv_net(path: str):
    """``path`` loaded by OpenCV's DNN module (``cv2.dnn``, CPU), no MXNet or onnxruntime."""
    import cv2

    try:
        return cv2.dnn.readNetFromONNX(path)
    except cv2.error as err:
        lines = [line for line in str(err).splitlines() if line.strip()]
        raise UserError(f"{path}: OpenCV {cv2.__version__} cannot load it "
                         f"({lines[-1].strip() if lines else 'no message'}); re-export with "
                         f"tools/export.py --onnx") from None


def run_opencv(net, crops: np.ndarray) -> np.ndarray:
    """An OpenCV DNN net on float32 crops, one crop per forward pass.

    OpenCV's importer fixes the shapes that the Transformer's reshapes compute from the input
    at batch 1 (the declared batch is dynamic), so a batch of 2 fails inside Reshape
    ("computeShapeByReshapeMask"); crops go through one at a time.
    """
    crops = np.ascontiguousarray(crops, dtype=np.float32)
    outputs = []
    for crop in crops:
        net.setInput(crop[None])
        outputs.append(net.forward())
    return np.concatenate(outputs, axis=0)
