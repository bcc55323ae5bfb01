"""Config -> objects: the model, its loss, a dataset split, and a model restored from a
checkpoint."""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

import mxnet as mx
from mxnet import gluon

from ..config import Config, ConfigError, config_from_dict, resolve_split
from ..data.dataset import LandmarkDataset, open_dataset
from ..data.formats import FORMATS
from ..data.landmarks import LandmarkSchema, get_schema
from ..losses import get_loss
from ..model_zoo import get_model
from .checkpoint import load_checkpoint


def schema_of(cfg: Config) -> LandmarkSchema:
    return get_schema(FORMATS[cfg.data.format].schema)


def build_model(cfg: Config, num_points: int, ctx: Optional[List[mx.Context]] = None):
    """The network of ``cfg.model`` with as many points as the dataset's schema."""
    options = dict(cfg.model.options)
    if options.setdefault("num_points", num_points) != num_points:
        raise ConfigError(f"model.num_points is {options['num_points']} but the "
                          f"{cfg.data.format} data has {num_points} points")
    return get_model(cfg.model.name, ctx=ctx, backbone_weights=cfg.model.backbone_weights,
                     **options)


def build_loss(cfg: Config, net) -> gluon.HybridBlock:
    """The loss of ``cfg.loss``, checked against the network it will train."""
    loss = get_loss(cfg.loss.name, **cfg.loss.options)
    net_sigma, loss_sigma = getattr(net, "sigma", None), getattr(loss, "sigma", None)
    if None not in (net_sigma, loss_sigma) and net_sigma != loss_sigma:
        raise ConfigError(f"model.sigma ({net_sigma}) and loss.sigma ({loss_sigma}) differ: "
                          f"the decoder would not invert the targets; set both")
    net_kind = getattr(net, "output_kind", "coordinates")
    if net_kind != loss.output_kind:
        raise ConfigError(f"loss {cfg.loss.name} is for {loss.output_kind} outputs but "
                          f"{cfg.model.name} outputs {net_kind}s (heatmap models: "
                          f"heatmap_mse / vector_mse)")
    return loss


def build_dataset(cfg: Config, split: str, input_size: int, augment: bool,
                  path: Optional[str] = None, report=print) -> LandmarkDataset:
    """One split of ``cfg`` (or ``path`` read as ``cfg.data.format``), see :func:`open_dataset`.

    ``data.on_miss`` applies to the training split only: the splits that are scored keep
    every face, so that their numbers compare across alignment sources.
    """
    d = cfg.data
    return open_dataset(path or resolve_split(d, split), d.format, schema_of(cfg), input_size,
                        d.face_fraction, d.augment if augment else None, cfg.train.seed,
                        report, d.align, d.cache_dir, d.align_source, d.detections,
                        d.on_miss if split == "train" and path is None else "ground_truth")


def checkpoint_file(path: str) -> str:
    """A run folder's best.ckpt (else last.ckpt), or ``path`` itself when it is a file."""
    if os.path.isdir(path):
        for name in ("best.ckpt", "last.ckpt"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise FileNotFoundError(f"{path}: no best.ckpt or last.ckpt in this run folder")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: checkpoint does not exist")
    return path


def model_from_checkpoint(path: str, ctx: Optional[mx.Context] = None
                          ) -> Tuple[object, Config, int]:
    """Rebuild the network a checkpoint was trained as and load its weights.

    Returns ``(net, config, epochs trained)``.
    """
    from .checkpoint import read_checkpoint_meta

    path = checkpoint_file(path)
    meta = read_checkpoint_meta(path)
    cfg = config_from_dict(meta.config, where=path)
    ctx = ctx or mx.cpu()
    net = build_model(cfg, schema_of(cfg).num_points, [ctx])
    net(mx.nd.zeros((1, 3, net.input_size, net.input_size), ctx=ctx))  # resolve shapes
    load_checkpoint(path, net, ctx=[ctx])
    return net, cfg, meta.epoch
