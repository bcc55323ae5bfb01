"""Landmarks on photos: detect faces, align each, one batched forward pass, map back.

``Predictor(model_dir)`` loads a folder written by tools/export.py. ``predictor(image)``
takes a path or a BGR array and returns one :class:`FaceLandmarks` per detected face, with
landmarks in the photo's pixels. All faces of a photo (and, with ``flip=True``, their mirrors)
go through the network as one batch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Optional, Tuple, Union

import mxnet as mx
import numpy as np

from ..data.align import invert, transform_points
from ..data.detector import Face, get_detector
from ..data.image_file import read_image_file
from ..errors import UserError
from ..flip import predict_with_flip
from .backends import DEFAULT_BACKEND, make_runner, resolve_backend
from .model_files import find_exported


@dataclass(frozen=True)
class FaceLandmarks:
    box: np.ndarray  # (4,) x1 y1 x2 y2 from the detector
    score: float
    landmarks: np.ndarray  # (N, 2) in the photo's pixels

    def to_dict(self) -> dict:
        return {"box": [round(float(v), 2) for v in self.box], "score": round(self.score, 4),
                "landmarks": np.round(self.landmarks, 2).tolist()}


class Predictor:
    """A deployed LOTR: detector + alignment + network + back-projection.

    Parameters
    ----------
    model_dir : str
        Folder with ``NAME-symbol.json``, ``NAME-0000.params`` and ``NAME.json``.
    detector : str or callable
        A name of :func:`..data.detector.get_detector` (``default``: insightface's RetinaFace
        when its model is on disk, else the offline ``retinaface-mnet``), or any callable
        returning :class:`Face` objects.
    backend : str
        ``auto`` (the fastest measured that can run the export: ``openvino-bf16`` on a CPU
        with bf16 instructions, else ``onnxruntime``, else ``mxnet``), ``mxnet`` (static
        graph, oneDNN-fused on CPU), ``mxnet-static`` (without oneDNN), ``onnxruntime``,
        ``opencv``, ``openvino`` or ``openvino-bf16`` (the last four need ``NAME.onnx`` from
        ``tools/export.py --onnx``); see :mod:`.backends`. ``self.backend`` is the one used.
    flip : bool
        Flip test-time augmentation (mirrored crops in the same batch).
    detector_model : str, optional
        ``retinaface``: the folder with its model (default: an insightface pack on disk).
    min_face_size : int, optional
        ``mtcnn`` only: the smallest face to find, in pixels (default
        :data:`..data.mtcnn.MIN_FACE_SIZE`); smaller finds smaller faces, slower.
    refine : int
        Passes that re-align each face from the landmarks just predicted (its five points, by
        the model's crop rule) and predict again: each costs one more batch through the
        network, and the first takes the error of a detector-aligned face most of the way to
        that of a face aligned by its annotation (docs/deployment.md). Five-point models only.

    Attributes
    ----------
    crop_spec : CropSpec
        The crop the model was trained on, from its sidecar: :meth:`crop` and a video tracker
        cut faces by it (``crop_spec.matrix``, ``crop_spec.cut``).
    schema : LandmarkSchema
        The model's landmarks (names, flip table, five alignment points).
    backend : str
        The inference backend that runs.

    Notes
    -----
    One Predictor may serve several threads at once (a threaded web server's workers), and
    each call answers as it would alone. What is not thread-safe runs one call at a time,
    under a lock of its own: the built-in detectors' networks (OpenVINO's infer requests,
    MTCNN's ``cv2.dnn`` nets, insightface's RetinaFace) and the landmark network on the
    ``mxnet``, ``mxnet-static`` and ``opencv`` backends (MXNet's cached graphs, a ``cv2.dnn``
    net). Everything else runs in parallel:
    reading and decoding the photo, the detector's post-processing, cutting the crops,
    the ``onnxruntime`` backend (its sessions are thread-safe), decoding heatmap outputs, the
    flip merge and mapping the points back. A detector passed as a callable is called from
    those threads as it is: it must be thread-safe itself (or hold a lock) to be shared.
    """

    def __init__(self, model_dir: str, detector: Union[str, object] = "default",
                 backend: str = DEFAULT_BACKEND, flip: bool = False,
                 ctx: Optional[mx.Context] = None,
                 detector_model: Optional[str] = None,
                 min_face_size: Optional[int] = None, refine: int = 0):
        self.model = find_exported(model_dir)
        meta = self.model.sidecar
        self.schema = meta.landmark_schema
        self.crop_spec = meta.crop  # the crop the model was trained on: cut by the same rule
        self.input_size = meta.input_size
        self.flip_perm = list(meta.flip_perm)
        self.flip = flip
        if refine < 0:
            raise UserError(f"refine is a number of passes, 0 or more; got {refine}")
        if refine and (meta.crop.align != "five_point" or not self.schema.has_five_points):
            raise UserError(f"{model_dir}: refining re-aligns each face from the model's own "
                            f"five points; this model is aligned by "
                            f"{'its box' if meta.crop.align != 'five_point' else 'no five points'}")
        self.refine = refine
        self.detector = (get_detector(detector, model_path=detector_model,
                                      min_face_size=min_face_size)
                         if isinstance(detector, str) else detector)
        self.backend = resolve_backend(self.model, backend, ctx)
        self._run = make_runner(self.model, self.backend, ctx)

    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        """``(B, 3, S, S)`` float32 RGB crops -> ``(B, N, 2)`` crop-pixel landmarks."""
        crops = np.ascontiguousarray(crops, dtype=np.float32)
        if self.flip:
            return predict_with_flip(self._run, crops, self.flip_perm)
        return np.asarray(self._run(crops), dtype=np.float64)

    def predict_crops_and_mirrors(self, crops: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """``(plain, flip-averaged)`` landmarks of ``crops``, from one batch with their mirrors
        (whatever ``flip`` says): how far the two differ tells a face from a non-face."""
        crops = np.ascontiguousarray(crops, dtype=np.float32)
        return predict_with_flip(self._run, crops, self.flip_perm, return_plain=True)

    def crop(self, image: np.ndarray, face: Face) -> Tuple[np.ndarray, np.ndarray]:
        """A detected face's crop (3xSxS float32 RGB) and its photo-to-crop matrix, by
        :attr:`crop_spec`'s rule (the five points, or the box for a ``bbox`` model)."""
        matrix = self.crop_spec.matrix(five_points=face.five_points, box=face.box)
        return self.crop_spec.cut(image, matrix), matrix

    def __call__(self, image: Union[str, np.ndarray]) -> List[FaceLandmarks]:
        """The landmarks of every face in ``image`` (a BGR array, or a path read by
        :func:`..data.image_file.read_image_file`: a missing, damaged or undecodable file
        raises its :class:`..data.samples.DatasetError`), best detector score first."""
        if isinstance(image, str):
            image = read_image_file(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a BGR image (H, W, 3), got shape {image.shape}")
        faces = self.detector(image)
        if not faces:
            return []
        aligned = faces
        for done in range(self.refine + 1):
            crops, matrices = zip(*(self.crop(image, face) for face in aligned))
            photo = [transform_points(points, invert(matrix))
                     for points, matrix in zip(self.predict_crops(np.stack(crops)), matrices)]
            if done < self.refine:  # the next pass aligns from the model's own five points,
                # nearer the annotation's than a detector's (docs/deployment.md, refining)
                aligned = [replace(face, five_points=self.schema.five_point(points))
                           for face, points in zip(aligned, photo)]
        return [FaceLandmarks(face.box, face.score, points) for face, points in zip(faces, photo)]
