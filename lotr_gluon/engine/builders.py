"""Config -> objects: the model, its loss, a dataset split, and a model restored from a
checkpoint."""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Dict, List, Optional, Tuple

import mxnet as mx
from mxnet import gluon

from ..backbone_weights import describe_start
from ..config import Config, ConfigError, config_from_dict, resolve_split
from ..data.data_config import DataConfig
from ..data.dataset import LandmarkDataset, open_dataset
from ..data.dataset_schema import dataset_schema
from ..data.formats import FORMATS
from ..data.landmarks import LandmarkSchema
from ..losses import get_loss
from ..model_zoo import get_model
from .checkpoint import load_checkpoint


def schema_of(cfg: Config) -> LandmarkSchema:
    """The landmark schema of the run's faces (:func:`..data.formats.dataset_schema`; a COCO
    file without a schema file gives its training split's)."""
    needs_file = cfg.data.schema is None and FORMATS[cfg.data.format].schema is None
    return dataset_schema(cfg.data, resolve_split(cfg.data, "train") if needs_file else None)


def carry_schema(cfg: Config, schema: LandmarkSchema) -> Config:
    """``cfg`` with a custom schema written into ``data.schema`` (its mapping), so that the
    run folder's config, its checkpoints and its exports know the points without the file
    they came from; a built-in format's own schema stays implied."""
    fmt = FORMATS[cfg.data.format]
    if cfg.data.schema is None and fmt.schema is not None:
        return cfg
    return replace(cfg, data=replace(cfg.data, schema=schema.to_dict()))


def build_model(cfg: Config, num_points: int, ctx: Optional[List[mx.Context]] = None,
                restoring: bool = False):
    """The network of ``cfg.model`` with as many points as the dataset's schema.

    Its first weights: ``model.init_from``'s checkpoint when set, else ``model.backbone_weights``
    for the backbone (random for the rest). ``restoring``: a checkpoint fills the weights next
    (resume, evaluation, export), so neither is loaded and nothing is fetched. With several
    devices and ``train.sync_bn``, BatchNorm is synchronised across ``ctx``.
    """
    options = dict(cfg.model.options)
    if options.setdefault("num_points", num_points) != num_points:
        raise ConfigError(f"model.num_points is {options['num_points']} but the "
                          f"{cfg.data.format} data has {num_points} points")
    ctx = ctx or [mx.cpu()]
    fresh = not restoring and not cfg.model.init_from
    net = get_model(cfg.model.name, ctx=ctx,
                    backbone_weights=cfg.model.backbone_weights if fresh else None,
                    bn_devices=len(ctx) if cfg.train.sync_bn else 1, **options)
    if cfg.model.init_from and not restoring:
        _init_from(net, cfg.model.init_from, ctx)
    return net


def _init_from(net, path: str, ctx: List[mx.Context]) -> None:
    """Weights only from a checkpoint (mmpose's ``load_from``): no optimizer state, no epoch."""
    try:
        path = checkpoint_file(os.path.expanduser(path))
        net(mx.nd.zeros((1, 3, net.input_size, net.input_size), ctx=ctx[0]))  # resolve shapes
        load_checkpoint(path, net, None, ctx)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"model.init_from: {err}") from None


def start_of(cfg: Config) -> Dict[str, Optional[str]]:
    """How a run's weights started, for its log and metrics: the backbone's source
    (``imagenet``, ``none`` or a file) and the ``init_from`` checkpoint, if any."""
    init_from = cfg.model.init_from
    return {"backbone_weights": None if init_from else describe_start(cfg.model.backbone_weights),
            "init_from": os.path.expanduser(init_from) if init_from else None}


def build_loss(cfg: Config, net) -> gluon.HybridBlock:
    """The loss of ``cfg.loss``, checked against the network it will train."""
    loss = get_loss(cfg.loss.name, **cfg.loss.options)
    for key in ("sigma", "theta"):
        ours, theirs = getattr(net, key, None), getattr(loss, key, None)
        if None not in (ours, theirs) and ours != theirs:
            raise ConfigError(f"model.{key} ({ours}) and loss.{key} ({theirs}) differ: the "
                              f"decoder would not invert the targets; set both")
    net_kind = getattr(net, "output_kind", "coordinates")
    if net_kind != loss.output_kind:
        raise ConfigError(f"loss {cfg.loss.name} is for {loss.output_kind} outputs but "
                          f"{cfg.model.name} outputs {net_kind}s (heatmap models: "
                          f"heatmap_mse / vector_mse)")
    return loss


def build_dataset(data: DataConfig, split: str, input_size: int, *, augment: bool = False,
                  seed: int = 0, path: Optional[str] = None, report=print) -> LandmarkDataset:
    """Split ``split`` of ``data`` (or the folder ``path``, read as ``data`` says), see
    :func:`open_dataset`.

    ``data.on_miss`` applies to the configured training split only: the splits that are
    scored keep every face, so that their numbers compare across alignment sources.
    ``data.on_damaged`` applies to every split: none keeps a damaged photo.
    """
    return open_dataset(path or resolve_split(data, split), data, input_size, augment=augment,
                        training_split=split == "train" and path is None, seed=seed,
                        report=report)


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
    net = build_model(cfg, schema_of(cfg).num_points, [ctx], restoring=True)
    net(mx.nd.zeros((1, 3, net.input_size, net.input_size), ctx=ctx))  # resolve shapes
    load_checkpoint(path, net, ctx=[ctx])
    return net, cfg, meta.epoch
