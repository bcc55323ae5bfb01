"""The linear floor: ridge regression from HOG features of the aligned crops to the landmarks.

The mean shape says whether a model reads the image at all; this says whether it reads more
than a linear map of edge histograms does. Both are floors, not goals: a model below either
is a bug until a measurement says otherwise. The ridge is fitted on the un-augmented training
crops (aligned as the run aligns them), its penalty chosen on the last fifth of them, and
scored like the model, in the photo frame.

With fewer training faces than features the fit runs in the dual (kernel) form: one
eigendecomposition of the faces' Gram matrix serves every penalty.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from ..data.align import to_photo
from ..errors import UserError
from ..metrics import mean_shape, nme

PENALTIES = (1.0, 10.0, 100.0, 1000.0, 3000.0, 10000.0, 30000.0)
HOLDOUT = 0.2  # the share of training faces that picks the penalty
CELL = 8  # HOG cell side in pixels; blocks are 2x2 cells, 9 orientation bins


def hog_features(crops: np.ndarray) -> np.ndarray:
    """``(M, 3, S, S)`` network-input crops (RGB 0..255) -> ``(M, F)`` HOG features."""
    import cv2

    side = crops.shape[-1] // CELL * CELL
    hog = cv2.HOGDescriptor((side, side), (2 * CELL, 2 * CELL), (CELL, CELL), (CELL, CELL), 9)
    grey = (0.299 * crops[:, 0] + 0.587 * crops[:, 1] + 0.114 * crops[:, 2])
    return np.stack([hog.compute(np.ascontiguousarray(g[:side, :side]).astype(np.uint8))
                     .ravel() for g in grey]).astype(np.float64)


@dataclass
class RidgeFloor:
    """A fitted ridge map from standardised features to flattened landmarks."""

    weights: np.ndarray  # (F, 2N)
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    target_mean: np.ndarray
    penalty: float

    @classmethod
    def fit(cls, features: np.ndarray, landmarks: np.ndarray,
            penalties: Sequence[float] = PENALTIES, holdout: float = HOLDOUT) -> "RidgeFloor":
        """Pick the penalty with the lowest NME on the last ``holdout`` of the faces, then
        refit on all of them."""
        count = len(features)
        cut = count - max(1, int(round(holdout * count)))
        if cut < 1:
            raise UserError(f"need at least 2 faces to fit and choose a penalty, got {count}")
        errors = [float(np.mean(nme(cls._fit(features[:cut], landmarks[:cut], [p])[0]
                                    .predict(features[cut:]), landmarks[cut:])))
                  for p in penalties]
        best = float(penalties[int(np.argmin(errors))])
        return cls._fit(features, landmarks, [best])[0]

    @classmethod
    def _fit(cls, features: np.ndarray, landmarks: np.ndarray, penalties: Sequence[float]):
        mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
        x = (features - mean) / scale
        y = landmarks.reshape(len(landmarks), -1)
        # An unlabelled (NaN) coordinate is fitted as its mean over the faces that have it.
        target_mean = mean_shape(landmarks).reshape(-1)
        y = np.where(np.isfinite(y), y, target_mean) - target_mean
        # Dual form: W = X^T (X X^T + p I)^-1 Y, with X X^T = V diag(e) V^T.
        eigenvalues, vectors = np.linalg.eigh(x @ x.T)
        projected = vectors.T @ y
        return [cls(x.T @ (vectors @ (projected / (eigenvalues + p)[:, None])), mean, scale,
                    target_mean, float(p)) for p in penalties]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """``(M, F)`` -> ``(M, N, 2)`` landmarks in crop pixels."""
        x = (features - self.feature_mean) / self.feature_scale
        return (x @ self.weights + self.target_mean).reshape(len(features), -1, 2)


def crops_of(dataset) -> Tuple[np.ndarray, np.ndarray]:
    """Every un-augmented crop of a :class:`LandmarkDataset` and its landmarks."""
    if dataset.cropper.augment is not None:
        raise UserError("the linear floor is fitted on un-augmented crops")
    crops, points = zip(*(dataset[i] for i in range(len(dataset))))
    return np.stack(crops), np.stack(points).astype(np.float64)


def linear_floor_nme(train, evaluated) -> Tuple[float, RidgeFloor]:
    """Fit on ``train``'s crops, return the NME on ``evaluated`` in the photo frame (the JD
    rule, as the models are scored) and the fitted floor."""
    crops, landmarks = crops_of(train)
    floor = RidgeFloor.fit(hog_features(crops), landmarks)
    crops, _ = crops_of(evaluated)
    predicted = floor.predict(hog_features(crops))
    matrices, photo = evaluated.photo_frame()
    scored = nme(to_photo(predicted, matrices), photo, schema=evaluated.cropper.schema)
    return float(np.mean(scored)), floor
