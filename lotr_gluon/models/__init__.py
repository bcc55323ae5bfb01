"""Network definitions; build them through :func:`lotr_gluon.get_model`."""
from .backbone import BACKBONES, Backbone
from ..backbone_weights import BackboneWeightsError
from .cnn_ffn import CNNFFN
from .heatmap import HeatmapNet
from .lotr import LOTR

__all__ = ["BACKBONES", "Backbone", "BackboneWeightsError", "CNNFFN", "HeatmapNet", "LOTR"]
