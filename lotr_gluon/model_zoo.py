"""Model registry: ``get_model(name, **overrides)`` for every network of the paper."""
from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional, Tuple, Type, Union

import mxnet as mx
from mxnet.gluon import HybridBlock

from .backbone_weights import resolve_backbone_weights
from .errors import UserError
from .models import CNNFFN, LOTR, HeatmapNet
from .models.initializers import he_normal

# name -> (class, the keyword arguments that make it that variant). Defaults live in the class
# signatures only; this table states what differs (Table 1 and Section 4.6).
_MODELS: Dict[str, Tuple[Type[HybridBlock], Dict[str, Any]]] = {
    "lotr_m": (LOTR, dict(backbone="mobilenetv2_1.0", upsample=False)),
    "lotr_m+": (LOTR, dict(backbone="mobilenetv2_1.0", upsample=True)),
    "lotr_r+": (LOTR, dict(backbone="resnet50_v1b", upsample=True)),
    "cnn_ffn_m": (CNNFFN, dict(backbone="mobilenetv2_1.0")),
    "cnn_ffn_r": (CNNFFN, dict(backbone="resnet50_v1b")),
    "heatmap_m": (HeatmapNet, dict(backbone="mobilenetv2_1.0", width=88)),
    "heatmap_r": (HeatmapNet, dict(backbone="resnet50_v1b", width=96)),
    "heatmap_m_vec": (HeatmapNet, dict(backbone="mobilenetv2_1.0", width=88, vector=True)),
    "heatmap_r_vec": (HeatmapNet, dict(backbone="resnet50_v1b", width=96, vector=True)),
}

# The families of the paper's networks: LOTR (Table 1) and the baselines it is compared with
# (Section 4.6). A registered model's family is its class.
FAMILIES: Dict[str, Type[HybridBlock]] = {"lotr": LOTR, "cnn_ffn": CNNFFN, "heatmap": HeatmapNet}

# He initialisation (variance 2 / fan_in) for conv and dense weights; biases, BatchNorm and
# LayerNorm get the Initializer's defaults (0 and 1); the landmark queries carry their own
# N(0, 1e-4), the Transformer's dense layers their own init (see models/transformer.py) and the
# head's output layer He scaled by ``output_init_scale`` (see models/head.py).
HE_INIT = he_normal()

# Constructor arguments that are about where a model runs, not what it is: set through
# get_model's own parameters, never as a model option in a config.
_RUNTIME_OPTIONS = ("bn_devices",)


def list_models() -> List[str]:
    """Names accepted by :func:`get_model`."""
    return sorted(_MODELS)


def models_of(family: str) -> Tuple[str, ...]:
    """The registered models of ``family`` (a key of :data:`FAMILIES`), in the paper's order."""
    if family not in FAMILIES:
        raise UserError(f"unknown model family {family!r}; expected one of {sorted(FAMILIES)}")
    return tuple(name for name, (cls, _) in _MODELS.items() if cls is FAMILIES[family])


def model_options(name: str) -> Dict[str, Any]:
    """The keyword arguments (with defaults) that ``name`` accepts as overrides."""
    cls, fixed = _lookup(name)
    signature = inspect.signature(cls.__init__)
    return {k: p.default for k, p in signature.parameters.items()
            if k not in ("self", "kwargs") + _RUNTIME_OPTIONS
            and p.kind is p.POSITIONAL_OR_KEYWORD and k not in fixed}


def _lookup(name: str) -> Tuple[Type[HybridBlock], Dict[str, Any]]:
    if name not in _MODELS:
        raise UserError(f"unknown model {name!r}; expected one of {list_models()}")
    return _MODELS[name]


def get_model(name: str, ctx: Union[None, mx.Context, List[mx.Context]] = None,
              backbone_weights: Optional[str] = None, initialize: bool = True,
              bn_devices: int = 1, **overrides: Any) -> HybridBlock:
    """Build a registered model.

    Parameters
    ----------
    name : str
        One of :func:`list_models` (the families of :data:`FAMILIES`, :func:`models_of`).
    ctx : mxnet.Context or list of them, optional
        Where to initialise the parameters (default CPU).
    backbone_weights : str, optional
        ``imagenet`` (gluoncv's model store, fetched by gluoncv when missing and online),
        ``none`` / None (random initialisation, the default), or a gluoncv ``.params`` path;
        see :mod:`lotr_gluon.backbone_weights`. A config's ``model.backbone_weights``
        defaults to ``imagenet`` instead (the paper's start, ``config.ModelConfig``), and
        training passes the config's value here.
    initialize : bool
        Initialise parameters (He for weights, N(0, 1e-4) for landmark queries).
    bn_devices : int
        Devices each training batch is split across; above 1, BatchNorm is synchronised
        across them (``SyncBatchNorm``). Parameter names do not change.
    **overrides
        Constructor arguments, e.g. ``num_points=68``, ``num_layers=1``, ``input_size=256``.

    Returns
    -------
    mxnet.gluon.HybridBlock
        Maps ``(B, 3, S, S)`` float32 RGB 0..255 to ``(B, N, 2)`` crop-pixel coordinates
        (heatmap models: to maps or vectors, see ``lotr_gluon.heatmap_codec.OutputSpec``).
    """
    cls, fixed = _lookup(name)
    allowed = model_options(name)
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise UserError(f"model {name!r} does not take {unknown}; it takes {sorted(allowed)}")
    net = cls(**fixed, **overrides, bn_devices=bn_devices)
    net.model_name = name
    weights_file = resolve_backbone_weights(backbone_weights, net.backbone.spec.store_name)
    if initialize or weights_file:
        ctx = ctx or mx.cpu()
        net.initialize(HE_INIT, ctx=ctx)
        if weights_file:
            net.backbone.load_imagenet_weights(weights_file, ctx=ctx)
    return net
