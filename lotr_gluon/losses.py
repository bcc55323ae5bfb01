"""Landmark regression losses: L1, L2, smooth-L1, Wing and the paper's smooth-Wing.

Every loss is ``loss(Z, Z_hat) = sum_i sum_j g(z_ij - z_hat_ij)`` per sample (Eq. 5), returned
as a ``(B,)`` array; the trainer averages it over the batch. A target point that is NaN is not
labelled on that face (a COCO keypoint of visibility 0): it adds nothing to the loss and sends
no gradient.

Units: ``x = (pred - target) * scale`` and the thresholds (smooth-L1's 1, Wing's ``w`` and
``eps``, smooth-Wing's ``t``, ``w`` and ``eps``) are in that unit. With the default
``scale=1`` that is pixels of the 192x192 aligned crop, the unit the network outputs: Wing's
``w=10`` is then 10 px, about 5% of the crop. To state thresholds in another unit set ``scale``
(config key ``loss.scale``): ``scale=1/192`` measures errors in crop widths, ``scale=256/192``
in pixels of a 256 crop.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Dict, Tuple, Type

import numpy as np
from mxnet.gluon import HybridBlock

from .errors import UserError
from .heatmap_codec import (
    DEFAULT_SIGMA,
    DEFAULT_THETA,
    HEATMAP_STRIDE,
    QUASI_GAUSSIAN_CUTOFF,
    to_cells,
)


class LandmarkLoss(HybridBlock):
    """Base class: per-sample sum of an elementwise ``g`` over landmarks and x/y.

    Parameters
    ----------
    scale : float
        Multiplies the error before ``g``; sets the unit of the thresholds (see module doc).
    """

    output_kind = "coordinates"  # what the network's output must be (lotr_gluon.heatmap_codec)

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not scale > 0:
            raise UserError(f"loss scale must be positive, got {scale}")
        self.scale = float(scale)

    def elementwise(self, F, x):
        """``g(x)`` for an error array ``x`` (``F`` is ``mx.nd`` or ``mx.sym``)."""
        raise NotImplementedError

    def hybrid_forward(self, F, pred, target):
        # pred, target (B, N, 2) -> (B,); g(0) = 0 for every loss here, so an unlabelled
        # coordinate (NaN != NaN) with its error set to 0 adds nothing.
        error = F.where(target == target, pred - target, F.zeros_like(pred))
        return F.sum(self.elementwise(F, error * self.scale), axis=0, exclude=True)


class L1Loss(LandmarkLoss):
    """``g(x) = |x|``."""

    def elementwise(self, F, x):
        return F.abs(x)


class L2Loss(LandmarkLoss):
    """``g(x) = x^2 / 2``."""

    def elementwise(self, F, x):
        return 0.5 * F.square(x)


class SmoothL1Loss(LandmarkLoss):
    """``g(x) = x^2 / 2`` if ``|x| < 1`` else ``|x| - 1/2`` (Girshick 2015, Eq. 3)."""

    def elementwise(self, F, x):
        a = F.abs(x)
        return F.where(a < 1.0, 0.5 * F.square(x), a - 0.5)


class WingLoss(LandmarkLoss):
    """Wing loss (Feng et al. 2017, Eq. 4): ``w ln(1 + |x|/eps)`` if ``|x| < w`` else ``|x| - C``.

    ``C = w - w ln(1 + w/eps)`` makes the value continuous at ``w``; the derivative is not
    (``w / (w + eps)`` inside, 1 outside), the defect smooth-Wing removes.
    """

    def __init__(self, w: float = 10.0, eps: float = 2.0, scale: float = 1.0, **kwargs):
        super().__init__(scale, **kwargs)
        if not (w > 0 and eps > 0):
            raise UserError(f"wing needs w > 0 and eps > 0, got w={w}, eps={eps}")
        self.w, self.eps = float(w), float(eps)
        self.c = self.w - self.w * math.log1p(self.w / self.eps)

    def elementwise(self, F, x):
        a = F.abs(x)
        return F.where(a < self.w, self.w * F.log1p(a / self.eps), a - self.c)


class SmoothWingLoss(LandmarkLoss):
    """The paper's smooth-Wing loss (Section 3.2): quadratic below ``t``, log up to ``w``, then L1.

    ``g(x) = s x^2`` for ``|x| < t``; ``(w + eps) ln(1 + |x|/eps) - c2`` for ``t <= |x| <= w``;
    ``|x| - c1 - c2`` for ``|x| > w``, with ``s = (w + eps) / (2 t (eps + t))`` and
    ``c1 = w - (w + eps) ln(1 + w/eps)``. Value and derivative are continuous at ``t`` and ``w``
    and the derivative is 0 at 0.

    The paper prints ``c2 = s t^2``. That constant leaves a jump in the value at ``t`` of
    ``(w + eps) ln(1 + t/eps) - 2 s t^2`` (1.5e-4 at t=0.01, w=10, eps=2, i.e. 0.5% of g(t)).
    Here ``c2 = (w + eps) ln(1 + t/eps) - s t^2``, which closes the jump. The two differ by a
    constant on ``|x| >= t``, so every gradient, and so training, is the paper's.
    """

    def __init__(self, t: float = 0.01, w: float = 10.0, eps: float = 2.0, scale: float = 1.0,
                 **kwargs):
        super().__init__(scale, **kwargs)
        if not (0 < t < w and eps > 0):
            raise UserError(f"smooth_wing needs 0 < t < w and eps > 0, got t={t}, w={w}, "
                             f"eps={eps}")
        self.t, self.w, self.eps = float(t), float(w), float(eps)
        self.s = (self.w + self.eps) / (2 * self.t * (self.eps + self.t))
        self.c1 = self.w - (self.w + self.eps) * math.log1p(self.w / self.eps)
        self.c2 = (self.w + self.eps) * math.log1p(self.t / self.eps) - self.s * self.t ** 2

    def elementwise(self, F, x):
        a = F.abs(x)
        middle = (self.w + self.eps) * F.log1p(a / self.eps) - self.c2
        outer = a - self.c1 - self.c2
        return F.where(a < self.t, self.s * F.square(x), F.where(a > self.w, outer, middle))


class HeatmapMSELoss(LandmarkLoss):
    """Heatmap models: half the squared error against unit-peak Gaussians at the landmarks.

    ``pred`` is ``(B, N, H, W)`` maps; the targets are made here from the ``(B, N, 2)`` pixel
    landmarks (on the device, so the data pipeline stays one format for every model).
    ``sigma`` is in heatmap cells, ``stride`` input pixels per cell; both must match the model.
    """

    output_kind = "heatmap"

    def __init__(self, sigma: float = DEFAULT_SIGMA, stride: float = HEATMAP_STRIDE, **kwargs):
        super().__init__(**kwargs)
        self.sigma, self.stride = float(sigma), float(stride)

    def _per_map(self, F, mask):
        return F.expand_dims(mask, axis=-1)  # (B, N, 1) -> (B, N, 1, 1), like the maps

    def _gaussian(self, F, grid, centre):
        # grid (1, 1, L), centre (B, N, 1) -> (B, N, L)
        return F.exp(-F.square(F.broadcast_sub(grid, centre)) / (2 * self.sigma ** 2))

    def _cells(self, F, target):
        cells = to_cells(target, self.stride)
        return (F.slice_axis(cells, axis=-1, begin=0, end=1),
                F.slice_axis(cells, axis=-1, begin=1, end=2))

    def targets(self, F, pred, target):
        x, y = self._cells(F, target)
        xs = F.reshape(F.contrib.arange_like(pred, axis=3), (1, 1, -1))
        ys = F.reshape(F.contrib.arange_like(pred, axis=2), (1, 1, -1))
        gx, gy = self._gaussian(F, xs, x), self._gaussian(F, ys, y)
        return F.broadcast_mul(F.expand_dims(gy, axis=3), F.expand_dims(gx, axis=2))

    def hybrid_forward(self, F, pred, target):
        # A point with an unlabelled (NaN) coordinate gets no map: its error is masked out.
        labelled = F.min(target == target, axis=-1, keepdims=True)  # (B, N, 1)
        maps = self.targets(F, pred, F.where(target == target, target, F.zeros_like(target)))
        error = F.broadcast_mul(pred - maps, self._per_map(F, labelled)) * self.scale
        return 0.5 * F.sum(F.square(error), axis=0, exclude=True)


class VectorMSELoss(HeatmapMSELoss):
    """Vector models: ``pred`` is ``(B, N, W + H)``, the x vector then the y vector.

    The labels are Xiong et al.'s quasi-Gaussians: ``exp(-d^2 / 2 sigma^2) + theta`` where the
    distance ``d`` to the landmark (in cells) is at most 3 sigma, 0 beyond. ``theta`` must
    match the model's (its decoder takes the lift off).
    """

    output_kind = "vector"

    def __init__(self, sigma: float = DEFAULT_SIGMA, stride: float = HEATMAP_STRIDE,
                 theta: float = DEFAULT_THETA, **kwargs):
        super().__init__(sigma, stride, **kwargs)
        if theta < 0:
            raise UserError(f"vector_mse needs theta >= 0, got {theta}")
        self.theta = float(theta)

    def _per_map(self, F, mask):
        return mask  # (B, N, 1), like the (B, N, W + H) vectors

    def _gaussian(self, F, grid, centre):
        distance = F.abs(F.broadcast_sub(grid, centre))
        lifted = F.exp(-F.square(distance) / (2 * self.sigma ** 2)) + self.theta
        return lifted * (distance <= QUASI_GAUSSIAN_CUTOFF * self.sigma)

    def targets(self, F, pred, target):
        x, y = self._cells(F, target)
        index = F.reshape(F.contrib.arange_like(pred, axis=2), (1, 1, -1))  # 0 .. W + H - 1
        half = F.reshape((F.max(index) + 1) / 2, (1, 1, 1))  # W (= H: square maps)
        is_y = F.broadcast_greater_equal(index, half)
        position = F.broadcast_sub(index, F.broadcast_mul(is_y, half))
        centre = F.broadcast_add(F.broadcast_mul(1 - is_y, x), F.broadcast_mul(is_y, y))
        return self._gaussian(F, position, centre)


LOSSES: Dict[str, Type[LandmarkLoss]] = {
    "l1": L1Loss,
    "l2": L2Loss,
    "smooth_l1": SmoothL1Loss,
    "wing": WingLoss,
    "smooth_wing": SmoothWingLoss,
    "heatmap_mse": HeatmapMSELoss,
    "vector_mse": VectorMSELoss,
}


def get_loss(name: str, **params: Any) -> LandmarkLoss:
    """Build a loss by name: ``l1``, ``l2``, ``smooth_l1``, ``wing``, ``smooth_wing``, and for
    the heatmap baselines ``heatmap_mse`` and ``vector_mse``.

    ``params`` are the loss's thresholds (``t``, ``w``, ``eps``) and ``scale``; unknown names
    are errors that list the accepted ones.
    """
    if name not in LOSSES:
        raise UserError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    cls = LOSSES[name]
    accepted = {k for c in cls.__mro__ if c is not HybridBlock and issubclass(c, LandmarkLoss)
                for k in inspect.signature(c.__init__).parameters
                if k not in ("self", "kwargs")}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise UserError(f"loss {name!r} does not take {unknown}; it takes {sorted(accepted)}")
    return cls(**params)


def loss_and_gradient(name: str, x: np.ndarray, **params: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Elementwise ``g(x)`` and ``g'(x)`` of a registered loss, by autograd in float64 (what
    the paper's Figure 2 draws)."""
    import mxnet as mx
    from mxnet import autograd

    loss = get_loss(name, **params)
    arr = mx.nd.array(x, dtype="float64")
    arr.attach_grad()
    with autograd.record():
        y = loss.elementwise(mx.nd, arr)
    y.backward()
    return y.asnumpy(), arr.grad.asnumpy()
