"""LOTR: backbone -> projection -> Transformer with landmark queries -> PFFN head (Figure 1)."""
from __future__ import annotations

import mxnet as mx
from mxnet.gluon import HybridBlock

from ..errors import UserError
from .backbone import ZERO_INIT_RESIDUAL, Backbone
from .head import OUTPUT_INIT_SCALE, LandmarkHead
from .neck import feature_projection, projection_scale
from .position_encoding import SinePositionEncoding
from .transformer import Transformer


def feature_map_size(input_size: int, stride: int, scale: int) -> int:
    """Side of the map the Transformer sees: ``input_size / stride * scale``."""
    if input_size % stride:
        raise UserError(f"input_size must be a multiple of the backbone stride {stride}, "
                         f"got {input_size}")
    return input_size // stride * scale


class LOTR(HybridBlock):
    """Localization Transformer (Watchareeruetai et al. 2022).

    Parameters
    ----------
    backbone : str
        ``mobilenetv2_1.0`` or ``resnet50_v1b``.
    upsample : bool
        False: 1x1 conv to ``d_model`` (LOTR-M). True: 1x1 conv to 256 and two 4x4
        deconvolutions to a 4x larger map (LOTR-M+, LOTR-R+).
    num_points : int
        Number of landmarks N, i.e. of learnable landmark queries.
    d_model, num_heads, ffn_dim, num_layers, dropout
        Transformer width, heads, feed-forward width, encoder = decoder depth, dropout.
    head_units : int
        Width of the head's two hidden layers.
    input_size : int
        Side of the square input crop in pixels.
    decoder_input : str
        ``queries`` (the paper's text) or ``zeros`` (DETR); see :class:`Transformer`.
    transformer_init : str
        ``xavier`` (DETR, default) or ``he`` for the Transformer's dense layers; convolutions
        and the head are He-initialised either way (see :class:`Transformer`).
    output_init_scale : float
        Scale of the head's output-layer He init (1.0: the paper; see :class:`LandmarkHead`).
    zero_init_residual : bool
        Start every residual block of the backbone as the identity (see :class:`Backbone`).
    bn_devices : int
        Synchronise BatchNorm over this many devices (see :class:`Backbone`).

    Notes
    -----
    Input ``(B, 3, S, S)`` float32 RGB 0..255; output ``(B, N, 2)`` (x, y) in crop pixels.
    """

    def __init__(self, backbone: str = "mobilenetv2_1.0", upsample: bool = False,
                 num_points: int = 106, d_model: int = 64, num_heads: int = 8,
                 ffn_dim: int = 128, num_layers: int = 2, dropout: float = 0.1,
                 head_units: int = 512, input_size: int = 192, decoder_input: str = "queries",
                 transformer_init: str = "xavier",
                 output_init_scale: float = OUTPUT_INIT_SCALE,
                 zero_init_residual: bool = ZERO_INIT_RESIDUAL, bn_devices: int = 1,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_points = num_points
        self.input_size = input_size
        with self.name_scope():
            self.backbone = Backbone(backbone, zero_init_residual, bn_devices)
            side = feature_map_size(input_size, self.backbone.stride, projection_scale(upsample))
            self.projection = feature_projection(self.backbone.out_channels, d_model, upsample)
            self.position = SinePositionEncoding(side, side, d_model)
            self.queries = self.params.get("queries", shape=(1, num_points, d_model),
                                           init=mx.init.Normal(1e-4))
            self.transformer = Transformer(d_model, num_heads, ffn_dim, num_layers, dropout,
                                           decoder_input, transformer_init)
            self.head = LandmarkHead((head_units, head_units), 2, d_model, input_size,
                                     output_init_scale)

    def hybrid_forward(self, F, x, queries):
        features = self.projection(self.backbone(x))  # (B, D, h, w)
        tokens = F.transpose(F.reshape(features, (0, 0, -1)), axes=(0, 2, 1))  # (B, hw, D)
        decoded = self.transformer(tokens, self.position(tokens), queries)  # (B, N, D)
        return self.head(decoded)  # (B, N, 2)
