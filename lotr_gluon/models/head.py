"""Landmark prediction head: a position-wise feed-forward network with a linear output."""
from __future__ import annotations

from typing import Sequence

from mxnet.gluon import HybridBlock, nn


class LandmarkHead(HybridBlock):
    """Dense layers with ReLU, then a linear output mapped to crop pixels.

    Applied per token (``(B, N, D) -> (B, N, out_units)``) or per image (``(B, F)``).
    The output layer is linear in a unit where 0 is the crop centre and 1 is the crop width;
    the head then converts to pixels with a fixed, parameter-free ``(y + 0.5) * input_size``.
    This keeps the last layer's targets of order 1 (a zero-initialised bias that had to grow to
    ~96 px would take LAMB, whose steps scale with the weight norm, thousands of iterations)
    and changes nothing in the paper's architecture or parameter count.

    Parameters
    ----------
    hidden_units : sequence of int
        Widths of the hidden layers (the paper: 512, 512).
    out_units : int
        Output width: 2 per token for LOTR, 2N for the CNN+FFN baseline.
    in_units : int
        Input width.
    input_size : int
        Crop size in pixels.
    """

    def __init__(self, hidden_units: Sequence[int], out_units: int, in_units: int,
                 input_size: int, **kwargs):
        super().__init__(**kwargs)
        self.input_size = float(input_size)
        with self.name_scope():
            self.layers = nn.HybridSequential(prefix="")
            for units in hidden_units:
                self.layers.add(nn.Dense(units, activation="relu", flatten=False,
                                         in_units=in_units))
                in_units = units
            self.layers.add(nn.Dense(out_units, flatten=False, in_units=in_units))

    def hybrid_forward(self, F, x):
        return (self.layers(x) + 0.5) * self.input_size
