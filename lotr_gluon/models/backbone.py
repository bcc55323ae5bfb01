"""Visual backbones: ImageNet CNNs cut before their classifier (the left box of Figure 1).

The architectures are gluoncv's, built with ``pretrained=False``; ImageNet weights come from
gluoncv's model store or a file (:mod:`.backbone_weights`) and are loaded after building.
Parameter names inside a :class:`Backbone` follow gluoncv's structure (``features.0.weight``,
``layer1.0.conv1.weight``), so a gluoncv classifier file loads into it directly, its
classifier weights ignored.

BatchNorm: one device normalises over its own batch (``nn.BatchNorm``); with ``bn_devices``
> 1 every BatchNorm is MXNet's ``SyncBatchNorm`` over that many devices, so a batch split
across 4 GPUs is normalised over all of it, as the paper's single GPU did. Parameter names are
the same either way, so a checkpoint trained synchronised loads into a one-device model.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock, nn

from ..backbone_weights import BackboneWeightsError, model_store_dir, store_file
from ..errors import UserError

# ImageNet statistics of the RGB 0..1 images the gluoncv weights were trained on.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _mobilenet_v2_residual_norms(body: HybridBlock) -> List[HybridBlock]:
    """The last BatchNorm of every inverted residual block that has a shortcut."""
    from gluoncv.model_zoo.mobilenet import LinearBottleneck

    return [block.out[-1] for block in _blocks(body, LinearBottleneck) if block.use_shortcut]


def _resnet_v1b_residual_norms(body: HybridBlock) -> List[HybridBlock]:
    """``bn3`` of every bottleneck (each one adds its output to a shortcut)."""
    from gluoncv.model_zoo.resnetv1b import BottleneckV1b

    return [block.bn3 for block in _blocks(body, BottleneckV1b)]


def _blocks(block: HybridBlock, kind: type) -> List[HybridBlock]:
    found = [block] if isinstance(block, kind) else []
    for child in block._children.values():
        found.extend(_blocks(child, kind))
    return found


def batch_norm(bn_devices: int = 1) -> Tuple[type, Dict[str, Any]]:
    """``(norm_layer, norm_kwargs)`` in gluoncv's convention: plain BatchNorm on one device,
    SyncBatchNorm over ``bn_devices`` devices otherwise."""
    if bn_devices < 1:
        raise ValueError(f"bn_devices must be at least 1, got {bn_devices}")
    if bn_devices == 1:
        return nn.BatchNorm, {}
    from mxnet.gluon.contrib.nn import SyncBatchNorm

    return SyncBatchNorm, {"num_devices": bn_devices}


def _mobilenet_v2_stages(multiplier: float, bn_devices: int) -> List[Tuple[str, HybridBlock]]:
    from gluoncv.model_zoo import get_mobilenet_v2

    norm_layer, norm_kwargs = batch_norm(bn_devices)
    net = get_mobilenet_v2(multiplier, pretrained=False, norm_layer=norm_layer,
                           norm_kwargs=norm_kwargs)
    # features[-1] is the global average pool: keep the 1280-channel map up to it.
    return [("features", net.features[:-1])]


def _resnet50_v1b_stages(bn_devices: int) -> List[Tuple[str, HybridBlock]]:
    from gluoncv.model_zoo import resnet50_v1b

    norm_layer, norm_kwargs = batch_norm(bn_devices)
    net = resnet50_v1b(pretrained=False, norm_layer=norm_layer, norm_kwargs=norm_kwargs)
    names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    return [(name, getattr(net, name)) for name in names]


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and what it produces."""

    build_stages: Callable[[int], List[Tuple[str, HybridBlock]]]  # takes bn_devices
    residual_norms: Callable[[HybridBlock], List[HybridBlock]]  # see zero_init_residual
    out_channels: int
    stride: int
    store_name: str  # gluoncv's model-store name of the ImageNet classifier that fits it


BACKBONES = {
    "mobilenetv2_1.0": BackboneSpec(
        lambda bn_devices: _mobilenet_v2_stages(1.0, bn_devices), _mobilenet_v2_residual_norms,
        1280, 32, "mobilenetv2_1.0"),
    "resnet50_v1b": BackboneSpec(
        _resnet50_v1b_stages, _resnet_v1b_residual_norms, 2048, 32, "resnet50_v1b"),
}


# Start residual blocks as the identity (see Backbone); measured in docs/training.md.
ZERO_INIT_RESIDUAL = True


class BackboneBody(HybridBlock):
    """gluoncv's layers up to the last feature map, under gluoncv's parameter names."""

    def __init__(self, stages: List[Tuple[str, HybridBlock]], **kwargs):
        super().__init__(**kwargs)
        self._stage_names = []
        for name, block in stages:
            setattr(self, name, block)  # registers the child under gluoncv's name
            self._stage_names.append(name)

    def hybrid_forward(self, F, x):
        for name in self._stage_names:
            x = getattr(self, name)(x)
        return x


class Backbone(HybridBlock):
    """An ImageNet CNN truncated to its last feature map, with its own input normalisation.

    Parameters
    ----------
    arch : str
        One of :data:`BACKBONES` (``mobilenetv2_1.0``, ``resnet50_v1b``).
    zero_init_residual : bool
        Start the last BatchNorm scale (gamma) of every residual branch at 0 instead of 1, so
        each residual block starts as the identity (Goyal et al. 2017; torchvision's and
        gluoncv's ``last_gamma`` option). Parameters and architecture are unchanged, and
        ImageNet weights, when loaded, replace it. From random weights it is what lets the
        backbone start reading the image early (measured in docs/training.md).
    bn_devices : int
        Devices each batch is split across: above 1, BatchNorm is synchronised over them
        (see the module docstring).

    Notes
    -----
    Input: ``(B, 3, H, W)`` float32 RGB in 0..255. Output: ``(B, C, H/32, W/32)``.
    The ImageNet mean/std are fixed constants inside the graph, so an exported model needs no
    preprocessing code. ``body`` holds the CNN with gluoncv's parameter names.
    """

    def __init__(self, arch: str = "mobilenetv2_1.0",
                 zero_init_residual: bool = ZERO_INIT_RESIDUAL, bn_devices: int = 1,
                 **kwargs):
        super().__init__(**kwargs)
        if arch not in BACKBONES:
            raise UserError(f"unknown backbone {arch!r}; expected one of {sorted(BACKBONES)}")
        self.arch = arch
        self.spec = BACKBONES[arch]
        self.out_channels = self.spec.out_channels
        self.stride = self.spec.stride
        mean = np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1) * 255.0
        std = np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1) * 255.0
        with self.name_scope():
            self.pixel_mean = self.params.get_constant("pixel_mean", mx.nd.array(mean))
            self.pixel_std = self.params.get_constant("pixel_std", mx.nd.array(std))
            self.body = BackboneBody(self.spec.build_stages(bn_devices))
        if zero_init_residual:
            for norm in self.spec.residual_norms(self.body):
                norm.gamma.init = mx.init.Zero()

    def hybrid_forward(self, F, x, pixel_mean, pixel_std):
        x = F.broadcast_div(F.broadcast_sub(x, pixel_mean), pixel_std)
        return self.body(x)  # (B, C, H/32, W/32)

    def load_imagenet_weights(self, path: str, ctx=None) -> None:
        """Load a gluoncv ImageNet classifier ``.params`` file into this backbone.

        The classifier's own weights in the file are ignored.

        Raises
        ------
        BackboneWeightsError
            When the file does not exist or its arrays do not fit this backbone.
        """
        expected = (f"gluoncv's {self.arch} ImageNet weights ({store_file(self.spec.store_name)}"
                    f", which gluoncv's model store keeps in {model_store_dir()})")
        if not os.path.isfile(path):
            raise BackboneWeightsError(
                f"backbone_weights: {path} does not exist; put {expected} there, "
                f"or set backbone_weights to imagenet (the model store) or none (random "
                f"initialisation)")
        try:
            self.body.load_parameters(path, ctx=ctx or mx.cpu(), ignore_extra=True,
                                      cast_dtype=True, dtype_source="current")
        except (AssertionError, mx.base.MXNetError, ValueError, KeyError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BackboneWeightsError(
                f"backbone_weights: {path} does not fit backbone {self.arch} ({reason[:160]}); "
                f"expected {expected}") from None
