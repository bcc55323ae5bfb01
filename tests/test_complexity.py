"""FLOP counting against hand counts and published backbone figures."""
import mxnet as mx
import pytest
from mxnet.gluon import nn

from lotr_gluon.complexity import count_macs, count_params, size_mb
from lotr_gluon.models.backbone import Backbone


def test_hand_counted_macs():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1, in_channels=4),  # 8*10*10 outputs x 4*3*3 = 28800
            nn.Conv2DTranspose(2, 4, strides=2, padding=1, in_channels=8),  # 800 in x 2*16
            nn.Flatten(),
            nn.Dense(5, in_units=2 * 20 * 20))  # 5 x 800
    net.initialize()
    assert count_macs(net, (1, 4, 10, 10)) == 28800 + 25600 + 4000


def test_batch_dot_macs():
    class Attention(mx.gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.batch_dot(x, x, transpose_b=True)  # (1, 2, 6, 6) from (1, 2, 6, 5)

    net = Attention()
    net.initialize()
    assert count_macs(net, (1, 2, 6, 5)) == 2 * 6 * 6 * 5


def test_param_and_size_conventions():
    net = nn.HybridSequential()
    net.add(nn.Dense(10, in_units=4), nn.BatchNorm(in_channels=10))
    net.initialize()
    # Params: 40 + 10 weights/bias, BN gamma/beta 20 + running mean/var 20.
    assert count_params(net) == 90
    assert size_mb(net) == 70 * 4 / 2 ** 20


@pytest.mark.parametrize("arch,published_gmacs", [
    ("mobilenetv2_1.0", 0.300),  # Sandler et al. 2018, Table 4: 300M multiply-adds
    ("resnet50_v1b", 4.09),  # the usual ResNet50 figure at 224x224
])
def test_backbone_macs_match_published(arch, published_gmacs):
    backbone = Backbone(arch)
    backbone.initialize()
    macs = count_macs(backbone, (1, 3, 224, 224)) / 1e9
    # The published figures include the 1000-way classifier (~1.3M/2M MACs), which we cut.
    assert macs == pytest.approx(published_gmacs, rel=0.03)
