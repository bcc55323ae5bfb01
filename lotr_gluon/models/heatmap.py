"""The heatmap baselines of Table 3: Earp et al. (2021) heatmaps and Xiong et al. (2020)
vectors, on the same backbones as LOTR.

Backbone (stride 32) -> 1x1 conv -> two 4x4 stride-2 deconvolutions -> a 3x3 conv to 4x the
channels and a pixel shuffle (depth_to_space) -> 1x1 conv to one map per landmark at stride 4
(48x48 for a 192 crop): Earp et al.'s mix of deconvolution and pixel-shuffle upsampling, each
stage with BatchNorm and ReLU.

The vector variant is Xiong et al.'s: a Band Pooling Module turns each map into an x vector
and a y vector. A vertical band L columns wide slides along x and averages the map under it
(the y vector likewise with a horizontal band); bands of width 3 and 5 are fused, as Xiong et
al. use in their experiments. The fusion (the mean of the two) is chosen here: the text
available to us says "aggregated". The labels are their quasi-Gaussians (lotr_gluon/losses.py).

Initialisation: the two deconvolutions and the output layer start at N(0, 0.001), bias 0, as
SimpleBaseline's (Xiao et al. 2018) deconvolution head does. He-initialised, the output layer
made a first loss of about 54k a face against 375 for predicting zeros; the optimiser shrank
it to zero maps, and no gradient reached the backbone again (docs/paper-notes.md).

The paper does not give the layer widths. ``width`` is chosen so that Params lands on Table 3:
88 gives 2.91M with MobileNetV2 (paper 2.92M), 96 gives 24.40M with ResNet-50 (paper 24.42M).
Table 3's sizes (12.16 / 94.10 MB) cannot both hold with those counts: at 4 bytes a
parameter they imply 3.19M / 24.67M trainable parameters, more than the Params column itself.

The network outputs maps, not coordinates: decoding (argmax + DARK) is post-processing in
:mod:`lotr_gluon.heatmap_codec`, which the evaluator, exporter, Predictor and benchmark apply.
"""
from __future__ import annotations

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from ..errors import UserError
from ..heatmap_codec import DEFAULT_SIGMA, DEFAULT_THETA, HEATMAP_STRIDE
from .backbone import ZERO_INIT_RESIDUAL, Backbone, batch_norm

BAND_WIDTHS = (3, 5)  # Xiong et al.'s fused band widths (odd, so a band centres on a cell)
HEAD_INIT_STD = 1e-3  # SimpleBaseline's N(0, 0.001) for deconvolutions and the output layer


def _conv_bn_relu(block: nn.HybridSequential, layer: HybridBlock, channels: int,
                  bn_devices: int) -> None:
    norm_layer, norm_kwargs = batch_norm(bn_devices)
    block.add(layer, norm_layer(in_channels=channels, **norm_kwargs), nn.Activation("relu"))


def band_pool(F, maps, axis: int, widths=BAND_WIDTHS):
    """``(B, N, H, W)`` maps -> ``(B, N, L)`` band-pooled profile along x (``axis=2``: bands
    are vertical, the result is W long) or y (``axis=3``), the widths' results averaged.

    A band of width ``w`` centred on cell ``j`` averages ``w`` whole columns (rows); at the
    border the missing columns count as zeros.
    """
    profile = F.mean(maps, axis=axis, keepdims=True)  # (B, N, 1, W) or (B, N, H, 1)
    pooled = []
    for w in widths:
        kernel = (1, w) if axis == 2 else (w, 1)
        side = (0, 0, w // 2, w // 2) if axis == 2 else (w // 2, w // 2, 0, 0)  # H, W padding
        # Zeros padded explicitly rather than by Pooling's own pad: OpenCV's ONNX importer
        # averages a padded border window over fewer cells than MXNet and onnxruntime do.
        padded = F.pad(profile, mode="constant", constant_value=0, pad_width=(0, 0, 0, 0) + side)
        pooled.append(F.Pooling(padded, kernel=kernel, stride=(1, 1), pool_type="avg"))
    fused = pooled[0] if len(pooled) == 1 else F.add_n(*pooled) / len(pooled)
    # reshape rather than dropping the axis: MXNet's ONNX export of a dropped axis goes
    # through ScatterND, which OpenCV's ONNX importer cannot take.
    return F.reshape(fused, shape=(0, 0, -1))


class HeatmapNet(HybridBlock):
    """One heatmap (or one x and one y vector) per landmark.

    Parameters
    ----------
    backbone : str
        ``mobilenetv2_1.0`` or ``resnet50_v1b``.
    num_points : int
        Landmarks N: output maps.
    width : int
        Channels of the upsampling stages.
    input_size : int
        Side of the square input crop; the maps are ``input_size / 4`` on a side.
    sigma : float
        Gaussian target width in heatmap cells (the loss and the decoder use it too).
    vector : bool
        Output ``(B, N, W + H)`` band-pooled x and y vectors instead of ``(B, N, H, W)`` maps.
    theta : float
        Vector models: the constant that lifts the quasi-Gaussian labels inside 3 sigma (the
        loss makes the labels; the decoder takes it off again). Unused for heatmaps.
    zero_init_residual : bool
        Start every residual block of the backbone as the identity (see :class:`Backbone`).
    bn_devices : int
        Synchronise BatchNorm over this many devices (see :class:`Backbone`).
    """

    def __init__(self, backbone: str = "mobilenetv2_1.0", num_points: int = 106,
                 width: int = 88, input_size: int = 192, sigma: float = DEFAULT_SIGMA,
                 vector: bool = False, theta: float = DEFAULT_THETA,
                 zero_init_residual: bool = ZERO_INIT_RESIDUAL, bn_devices: int = 1,
                 **kwargs):
        super().__init__(**kwargs)
        if input_size % 32:
            raise UserError(f"input_size must be a multiple of 32, got {input_size}")
        self.num_points = num_points
        self.input_size = input_size
        self.heatmap_stride = HEATMAP_STRIDE
        self.sigma = float(sigma)
        self.output_kind = "vector" if vector else "heatmap"
        if vector:
            self.theta = float(theta)
        small = mx.init.Normal(HEAD_INIT_STD)
        with self.name_scope():
            self.backbone = Backbone(backbone, zero_init_residual, bn_devices)
            self.upsample = nn.HybridSequential(prefix="upsample_")
            with self.upsample.name_scope():
                _conv_bn_relu(self.upsample, nn.Conv2D(width, 1, use_bias=False,
                                                       in_channels=self.backbone.out_channels),
                              width, bn_devices)
                for _ in range(2):
                    _conv_bn_relu(self.upsample,
                                  nn.Conv2DTranspose(width, 4, strides=2, padding=1,
                                                     use_bias=False, in_channels=width,
                                                     weight_initializer=small),
                                  width, bn_devices)
                _conv_bn_relu(self.upsample, nn.Conv2D(4 * width, 3, padding=1, use_bias=False,
                                                       in_channels=width), 4 * width, bn_devices)
            self.maps = nn.Conv2D(num_points, 1, in_channels=width, prefix="maps_",
                                  weight_initializer=small, bias_initializer="zeros")

    def hybrid_forward(self, F, x):
        features = F.depth_to_space(self.upsample(self.backbone(x)), 2)  # pixel shuffle
        maps = self.maps(features)  # (B, N, H, W)
        if self.output_kind == "vector":
            return F.concat(band_pool(F, maps, 2), band_pool(F, maps, 3), dim=2)  # (B, N, W+H)
        return maps
