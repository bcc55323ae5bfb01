"""Landmark prediction head: a position-wise feed-forward network with a linear output."""
from __future__ import annotations

from typing import Sequence

from mxnet.gluon import HybridBlock, nn

from .initializers import he_normal

# The output layer's He init is multiplied by this (see LandmarkHead). At 1.0 (the paper's He)
# one output unit is a whole crop width, so the first predictions scatter far across images
# and a network trained from random weights learns to ignore the image; at 0.01 it starts at
# the crop centre (measured in docs/training.md).
OUTPUT_INIT_SCALE = 0.01


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
    output_init_scale : float
        The output layer's weights are He-initialised times this (1.0: the paper's "He
        everywhere"). One output unit is a whole crop width, so a He-scaled layer starts with
        predictions scattered over tens of pixels, image by image; the default starts every
        landmark near the crop centre (see :data:`OUTPUT_INIT_SCALE`).
    """

    def __init__(self, hidden_units: Sequence[int], out_units: int, in_units: int,
                 input_size: int, output_init_scale: float = OUTPUT_INIT_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.input_size = float(input_size)
        with self.name_scope():
            self.layers = nn.HybridSequential(prefix="")
            for units in hidden_units:
                self.layers.add(nn.Dense(units, activation="relu", flatten=False,
                                         in_units=in_units))
                in_units = units
            self.layers.add(nn.Dense(out_units, flatten=False, in_units=in_units,
                                     weight_initializer=he_normal(output_init_scale)))

    def hybrid_forward(self, F, x):
        return (self.layers(x) + 0.5) * self.input_size
