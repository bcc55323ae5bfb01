"""Heatmap and vector landmark encodings: the geometry of the targets and sub-pixel decoding.

The baselines LOTR is compared with (Table 3) do not output coordinates: Earp et al. (2021)
predict one heatmap per landmark, Xiong et al. (2020) one x and one y vector per landmark.
Turning those into coordinates is post-processing outside the network, which is what LOTR
avoids; here it is numpy, timed separately by ``tools/benchmark.py --compare``.

Coordinates: heatmap cell ``j`` covers input pixels ``[j * stride, (j + 1) * stride)``, so
input pixel ``x`` sits at cell coordinate ``(x + 0.5) / stride - 0.5``.

Decoding: the argmax, refined by DARK (Zhang et al. 2020): smooth the map with the target's
Gaussian, take its log and do one Newton step from the argmax with finite-difference gradient
and Hessian. On the log of a Gaussian (a quadratic) that step is exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import cv2
import numpy as np

KINDS = ("coordinates", "heatmap", "vector")
# The heatmap baselines' geometry, shared by the model (models/heatmap.py) and its losses.
HEATMAP_STRIDE = 4  # backbone stride 32, upsampled 2 x 2 (deconvs) x 2 (pixel shuffle)
DEFAULT_SIGMA = 1.5  # Gaussian target width in heatmap cells
# Xiong et al.'s quasi-Gaussian vector labels: exp(-d^2 / 2 sigma^2) + THETA within
# CUTOFF sigma of the landmark, 0 beyond. The value of theta is chosen here (the text
# available to us names the constant, not its value); the cut-off at 3 sigma is theirs.
DEFAULT_THETA = 1.0
QUASI_GAUSSIAN_CUTOFF = 3.0
_LOG_FLOOR = 1e-10


def to_cells(points, stride: float):
    """Input-pixel coordinates -> heatmap-cell coordinates (pixel and cell centres align).

    Numpy in, float64 numpy out; an MXNet NDArray or Symbol stays one (the heatmap losses
    build their targets inside the graph with this same formula).
    """
    if isinstance(points, (np.ndarray, list, tuple)):
        points = np.asarray(points, dtype=np.float64)
    return (points + 0.5) / stride - 0.5


def to_pixels(cells: np.ndarray, stride: float) -> np.ndarray:
    """Heatmap-cell coordinates -> input-pixel coordinates."""
    return (np.asarray(cells, dtype=np.float64) + 0.5) * stride - 0.5


def _blur(maps: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of ``(M, H, W)`` maps (DARK's distribution modulation)."""
    k = 2 * int(np.ceil(3 * sigma)) + 1
    out = np.empty_like(maps, dtype=np.float32)
    for i, m in enumerate(maps.astype(np.float32)):
        out[i] = cv2.GaussianBlur(m, (k, k), sigma, borderType=cv2.BORDER_CONSTANT)
    # Keep the original peak height so the log keeps its scale (as DARK does).
    peak = maps.reshape(len(maps), -1).max(1) / np.maximum(out.reshape(len(out), -1).max(1),
                                                             _LOG_FLOOR)
    return out * peak[:, None, None]


def decode_heatmaps(heatmaps: np.ndarray, sigma: float, stride: float, dark: bool = True,
                    smooth: bool = True) -> np.ndarray:
    """``(B, N, H, W)`` heatmaps -> ``(B, N, 2)`` input-pixel coordinates (argmax + DARK)."""
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    b, n, h, w = heatmaps.shape
    maps = heatmaps.reshape(b * n, h, w)
    flat = maps.reshape(len(maps), -1).argmax(1)
    y, x = flat // w, flat % w
    cells = np.stack([x, y], axis=1).astype(np.float64)
    if dark:
        logs = np.log(np.maximum(_blur(maps, sigma) if smooth else maps, _LOG_FLOOR))
        inside = (x > 0) & (x < w - 1) & (y > 0) & (y < h - 1)
        i, xi, yi = np.nonzero(inside)[0], x[inside], y[inside]
        at = lambda dy, dx: logs[i, yi + dy, xi + dx]  # noqa: E731
        dx = 0.5 * (at(0, 1) - at(0, -1))
        dy = 0.5 * (at(1, 0) - at(-1, 0))
        dxx = at(0, 1) - 2 * at(0, 0) + at(0, -1)
        dyy = at(1, 0) - 2 * at(0, 0) + at(-1, 0)
        dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
        det = dxx * dyy - dxy ** 2
        ok = np.abs(det) > 1e-12
        offset_x = np.where(ok, -(dyy * dx - dxy * dy) / np.where(ok, det, 1), 0.0)
        offset_y = np.where(ok, -(dxx * dy - dxy * dx) / np.where(ok, det, 1), 0.0)
        cells[i, 0] += np.clip(offset_x, -1, 1)
        cells[i, 1] += np.clip(offset_y, -1, 1)
    return to_pixels(cells, stride).reshape(b, n, 2)


def _decode_1d(vectors: np.ndarray, sigma: float, dark: bool, smooth: bool,
               theta: float = 0.0) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    m, size = v.shape
    peak = v.argmax(1)
    pos = peak.astype(np.float64)
    if dark:
        # Inside its cut-off a quasi-Gaussian is a Gaussian lifted by theta: take the lift off
        # (and the -theta it leaves beyond the cut-off, which smoothing would spread) so that
        # the log is the quadratic DARK's Newton step is exact on.
        v = np.maximum(v - theta, 0.0)
        if smooth:
            k = 2 * int(np.ceil(3 * sigma)) + 1
            kernel = cv2.getGaussianKernel(k, sigma).ravel()
            smoothed = np.stack([np.convolve(row, kernel, mode="same") for row in v])
            smoothed *= v.max(1, keepdims=True) / np.maximum(smoothed.max(1, keepdims=True),
                                                             _LOG_FLOOR)
            v = smoothed
        logs = np.log(np.maximum(v, _LOG_FLOOR))
        inside = (peak > 0) & (peak < size - 1)
        i, p = np.nonzero(inside)[0], peak[inside]
        d1 = 0.5 * (logs[i, p + 1] - logs[i, p - 1])
        d2 = logs[i, p + 1] - 2 * logs[i, p] + logs[i, p - 1]
        ok = np.abs(d2) > 1e-12
        pos[i] += np.clip(np.where(ok, -d1 / np.where(ok, d2, 1), 0.0), -1, 1)
    return pos


def decode_vectors(vectors: np.ndarray, sigma: float, stride: float, dark: bool = True,
                   smooth: bool = True, theta: float = 0.0) -> np.ndarray:
    """``(B, N, W + H)`` x-then-y vectors -> ``(B, N, 2)`` input-pixel coordinates.

    ``theta``: the lift of quasi-Gaussian labels (0 for plain Gaussians).
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    b, n, length = vectors.shape
    half = length // 2
    flat = vectors.reshape(b * n, length)
    x = _decode_1d(flat[:, :half], sigma, dark, smooth, theta)
    y = _decode_1d(flat[:, half:], sigma, dark, smooth, theta)
    return to_pixels(np.stack([x, y], axis=1), stride).reshape(b, n, 2)


@dataclass(frozen=True)
class OutputSpec:
    """What a network outputs and how to turn it into ``(B, N, 2)`` input pixels."""

    kind: str = "coordinates"
    stride: float = 1.0
    sigma: float = 1.0
    theta: float = 0.0  # vectors: the quasi-Gaussian lift (0 for plain Gaussians)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown output kind {self.kind!r}; expected one of {KINDS}")

    @classmethod
    def of(cls, net) -> "OutputSpec":
        """The spec of a Gluon model (coordinates unless it says otherwise)."""
        return cls(getattr(net, "output_kind", "coordinates"),
                   float(getattr(net, "heatmap_stride", 1.0)), float(getattr(net, "sigma", 1.0)),
                   float(getattr(net, "theta", 0.0)))

    def to_dict(self) -> Dict:
        return {"output_kind": self.kind, "heatmap_stride": self.stride, "sigma": self.sigma,
                "theta": self.theta}

    @property
    def needs_decoding(self) -> bool:
        return self.kind != "coordinates"

    def decode(self, output: np.ndarray, dark: Optional[bool] = True) -> np.ndarray:
        """Network output -> ``(B, N, 2)`` input-pixel coordinates."""
        if self.kind == "heatmap":
            return decode_heatmaps(output, self.sigma, self.stride, dark=bool(dark))
        if self.kind == "vector":
            return decode_vectors(output, self.sigma, self.stride, dark=bool(dark),
                                  theta=self.theta)
        return np.asarray(output, dtype=np.float64)
