"""CNN + FFN baseline (Section 4.6): the Transformer replaced by a feed-forward network."""
from __future__ import annotations

from mxnet.gluon import HybridBlock, nn

from .backbone import ZERO_INIT_RESIDUAL, Backbone
from .head import OUTPUT_INIT_SCALE, LandmarkHead
from .lotr import feature_map_size
from .neck import feature_projection


class CNNFFN(HybridBlock):
    """Backbone, 1x1 conv to ``d_model``, flatten, Dense 512-512-2N.

    The 1x1 conv gives the head the same ``d_model`` x 6 x 6 map that LOTR-M's Transformer sees
    (2304 features at 192 px), as the paper does "for a fair comparison".

    Parameters
    ----------
    backbone, num_points, d_model, dropout, head_units, input_size, output_init_scale,
    zero_init_residual, bn_devices
        See :class:`LOTR`. ``dropout`` applies to the flattened features.
    """

    def __init__(self, backbone: str = "mobilenetv2_1.0", num_points: int = 106,
                 d_model: int = 64, dropout: float = 0.1, head_units: int = 512,
                 input_size: int = 192, output_init_scale: float = OUTPUT_INIT_SCALE,
                 zero_init_residual: bool = ZERO_INIT_RESIDUAL, bn_devices: int = 1,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_points = num_points
        self.input_size = input_size
        with self.name_scope():
            self.backbone = Backbone(backbone, zero_init_residual, bn_devices)
            side = feature_map_size(input_size, self.backbone.stride, 1)
            self.projection = feature_projection(self.backbone.out_channels, d_model, False)
            self.drop = nn.Dropout(dropout)
            self.head = LandmarkHead((head_units, head_units), 2 * num_points,
                                     d_model * side * side, input_size, output_init_scale)

    def hybrid_forward(self, F, x):
        features = self.projection(self.backbone(x))  # (B, D, h, w)
        coords = self.head(self.drop(F.flatten(features)))  # (B, 2N)
        return F.reshape(coords, (0, -1, 2))  # (B, N, 2)
