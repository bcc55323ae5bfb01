"""Weight initialisers shared by the models (kept out of the registry to avoid a cycle)."""
from __future__ import annotations

import mxnet as mx

from ..errors import UserError


def he_normal(scale: float = 1.0) -> mx.init.Initializer:
    """He (Kaiming) normal init, variance ``2 / fan_in``, multiplied by ``scale`` (std-wise).

    ``scale=0`` gives zeros.
    """
    if scale < 0:
        raise UserError(f"init scale must be >= 0, got {scale}")
    if scale == 0:
        return mx.init.Zero()
    return mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2.0 * scale ** 2)
