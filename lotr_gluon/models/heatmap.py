"""The heatmap baselines of Table 3: Earp et al. (2021) heatmaps and Xiong et al. (2020)
vectors, on the same backbones as LOTR.

Backbone (stride 32) -> 1x1 conv -> two 4x4 stride-2 deconvolutions -> a 3x3 conv to 4x the
channels and a pixel shuffle (depth_to_space) -> 1x1 conv to one map per landmark at stride 4
(48x48 for a 192 crop): Earp et al.'s mix of deconvolution and pixel-shuffle upsampling, each
stage with BatchNorm and ReLU. The vector variant band-pools each map into an x vector (mean
over rows) and a y vector (mean over columns), as Xiong et al.'s Gaussian vectors.

The paper does not give the layer widths. ``width`` is chosen so that Params lands on Table 3:
88 gives 2.91M with MobileNetV2 (paper 2.92M), 96 gives 24.40M with ResNet-50 (paper 24.42M).
Table 3's sizes (12.16 / 94.10 MB) cannot both hold with those counts: at 4 bytes a
parameter they imply 3.19M / 24.67M trainable parameters, more than the Params column itself.

The network outputs maps, not coordinates: decoding (argmax + DARK) is post-processing in
:mod:`lotr_gluon.heatmap_codec`, which the evaluator, exporter, Predictor and benchmark apply.
"""
from __future__ import annotations

from mxnet.gluon import HybridBlock, nn

from ..heatmap_codec import DEFAULT_SIGMA, HEATMAP_STRIDE
from .backbone import ZERO_INIT_RESIDUAL, Backbone


def _conv_bn_relu(block: nn.HybridSequential, layer: HybridBlock, channels: int) -> None:
    block.add(layer, nn.BatchNorm(in_channels=channels), nn.Activation("relu"))


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
    zero_init_residual : bool
        Start every residual block of the backbone as the identity (see :class:`Backbone`).
    """

    def __init__(self, backbone: str = "mobilenetv2_1.0", num_points: int = 106,
                 width: int = 88, input_size: int = 192, sigma: float = DEFAULT_SIGMA,
                 vector: bool = False, zero_init_residual: bool = ZERO_INIT_RESIDUAL,
                 **kwargs):
        super().__init__(**kwargs)
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        self.num_points = num_points
        self.input_size = input_size
        self.heatmap_stride = HEATMAP_STRIDE
        self.sigma = float(sigma)
        self.output_kind = "vector" if vector else "heatmap"
        with self.name_scope():
            self.backbone = Backbone(backbone, zero_init_residual)
            self.upsample = nn.HybridSequential(prefix="upsample_")
            with self.upsample.name_scope():
                _conv_bn_relu(self.upsample, nn.Conv2D(width, 1, use_bias=False,
                                                       in_channels=self.backbone.out_channels),
                              width)
                for _ in range(2):
                    _conv_bn_relu(self.upsample,
                                  nn.Conv2DTranspose(width, 4, strides=2, padding=1,
                                                     use_bias=False, in_channels=width), width)
                _conv_bn_relu(self.upsample, nn.Conv2D(4 * width, 3, padding=1, use_bias=False,
                                                       in_channels=width), 4 * width)
            self.maps = nn.Conv2D(num_points, 1, in_channels=width, prefix="maps_")

    def hybrid_forward(self, F, x):
        features = F.depth_to_space(self.upsample(self.backbone(x)), 2)  # pixel shuffle
        maps = self.maps(features)  # (B, N, H, W)
        if self.output_kind == "vector":
            # keepdims + reshape rather than mean(axis) alone: MXNet's ONNX export of a
            # dropped axis goes through ScatterND, which OpenCV's ONNX importer cannot take.
            x_vec = F.reshape(F.mean(maps, axis=2, keepdims=True), shape=(0, 0, -1))
            y_vec = F.reshape(F.mean(maps, axis=3, keepdims=True), shape=(0, 0, -1))
            return F.concat(x_vec, y_vec, dim=2)  # (B, N, W + H)
        return maps
