"""Fixed 2D sine position encoding (DETR's ``PositionEmbeddingSine``).

The paper calls the encoding learnable, but Table 3's parameter counts only add up with a
fixed table (a learnable 24x24x64 table would move LOTR-M+ from 3.71M to 3.75M parameters),
so the table is a graph constant, not a parameter.
"""
from __future__ import annotations

import math

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock

from ..errors import UserError


def sine_position_table(height: int, width: int, d_model: int, temperature: float = 10000.0,
                        scale: float = 2 * math.pi) -> np.ndarray:
    """The DETR sine table for a ``height x width`` map, row-major, as ``(height*width, d_model)``.

    Channels ``[0, d_model/2)`` encode the row (y), ``[d_model/2, d_model)`` the column (x); in
    each half, channel ``2i`` is ``sin(p / T^(2i/h))`` and ``2i+1`` is ``cos(p / T^(2i/h))`` with
    ``h = d_model/2`` and ``p`` the 1-based position normalised to ``(0, scale]``.
    """
    if d_model % 4:
        raise UserError(f"d_model must be a multiple of 4 for a 2D sine encoding, got {d_model}")
    half = d_model // 2
    eps = 1e-6
    y = np.arange(1, height + 1, dtype=np.float64) / (height + eps) * scale
    x = np.arange(1, width + 1, dtype=np.float64) / (width + eps) * scale
    dim_t = temperature ** (2 * (np.arange(half) // 2) / half)

    def encode(p: np.ndarray) -> np.ndarray:  # (L,) -> (L, half), sin/cos interleaved
        angles = p[:, None] / dim_t[None, :]
        out = np.empty_like(angles)
        out[:, 0::2] = np.sin(angles[:, 0::2])
        out[:, 1::2] = np.cos(angles[:, 1::2])
        return out

    pos_y = np.repeat(encode(y), width, axis=0)  # row index changes slowest
    pos_x = np.tile(encode(x), (height, 1))
    return np.concatenate([pos_y, pos_x], axis=1).astype(np.float32)


class SinePositionEncoding(HybridBlock):
    """Returns the ``(1, height*width, d_model)`` sine table, whatever the batch.

    The table is a :class:`mxnet.gluon.Constant`: saved with the model, never trained, and not
    counted as a parameter in the paper's sense.
    """

    def __init__(self, height: int, width: int, d_model: int, **kwargs):
        super().__init__(**kwargs)
        table = sine_position_table(height, width, d_model)[None]
        with self.name_scope():
            self.table = self.params.get_constant("table", mx.nd.array(table))

    def hybrid_forward(self, F, x, table):
        return table  # (1, HW, D)
