"""Feature projection between backbone and Transformer: a 1x1 conv, optionally upsampling."""
from __future__ import annotations

from mxnet.gluon import nn

# The "+" variants' upsampling (Table 1): 1x1 conv to 256, then 4x4 stride-2 deconvolutions.
UPSAMPLE_CHANNELS = 256
DECONV_CHANNELS = 128


def feature_projection(in_channels: int, d_model: int, upsample: bool) -> nn.HybridSequential:
    """The block that turns a backbone map into ``d_model`` channels.

    ``upsample=False`` (LOTR-M): one 1x1 convolution, a linear projection, map size unchanged.
    ``upsample=True`` (LOTR-M+/R+): 1x1 conv to 256 + ReLU, deconv(128, 4x4, s2) + ReLU,
    deconv(d_model, 4x4, s2): the map grows 4x (6x6 -> 24x24 at 192 px input). There is no
    BatchNorm between them: three BNs would move LOTR-M+ off Table 3's 14.03 MB.

    The convolutions carry no bias (gluoncv style). Table 3 settles it: with biases LOTR-R+
    is 95.976 MB and CNN+FFN-R 96.095 MB, which print as 95.98 / 96.10 against the paper's
    95.97 / 96.09; without them all ten Params/Size cells match, rounded or truncated.
    """
    block = nn.HybridSequential(prefix="projection_")
    with block.name_scope():
        if not upsample:
            block.add(nn.Conv2D(d_model, 1, in_channels=in_channels, use_bias=False))
            return block
        block.add(nn.Conv2D(UPSAMPLE_CHANNELS, 1, in_channels=in_channels, use_bias=False,
                            activation="relu"),
                  nn.Conv2DTranspose(DECONV_CHANNELS, 4, strides=2, padding=1, use_bias=False,
                                     in_channels=UPSAMPLE_CHANNELS, activation="relu"),
                  nn.Conv2DTranspose(d_model, 4, strides=2, padding=1, use_bias=False,
                                     in_channels=DECONV_CHANNELS))
    return block


def projection_scale(upsample: bool) -> int:
    """How much :func:`feature_projection` enlarges the backbone map."""
    return 4 if upsample else 1
