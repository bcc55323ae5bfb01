"""Experiment configuration: dataclasses with the defaults, loaded from YAML with ``base:``.

A config file may name a ``base:`` file (relative to itself) whose values it overrides, so an
ablation is a few lines; the ``--set section.key=value`` items are one more layer on top.
One rule for ``model`` and ``loss``: a layer (a file, or all of ``--set``) that names another
``name`` than it inherits replaces the inherited section instead of merging into it (one
loss's thresholds do not apply to another), keeping only ``model.backbone_weights`` and
``model.init_from``, how the run starts; the options that layer gives itself apply to the new
model, in any order. Unknown or mistyped keys are errors that name the key and the file it
came from. The resolved config is saved beside each run.

``model`` takes ``name``, ``backbone_weights`` (``imagenet``, the default as in the paper;
``none`` for random weights; or a ``.params`` path), ``init_from`` (a checkpoint whose weights
start the run, with a fresh optimizer and schedule, as mmpose's ``load_from``) and any
override of :func:`get_model` (``num_layers``, ``num_points``, ...); ``loss`` takes ``name``
and the loss's parameters (``t``, ``w``, ``eps``, ``scale``).
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from .backbone_weights import IMAGENET
from .data.data_config import DataConfig, bad_choice
from .errors import UserError


@dataclass
class ModelConfig:
    name: str = "lotr_m"
    # imagenet: gluoncv's model store (Section 4.3); none: random; or a gluoncv .params path.
    # The paper's start is the default here; get_model's own default is random weights.
    backbone_weights: Optional[str] = IMAGENET
    init_from: Optional[str] = None  # a checkpoint (run folder or .ckpt): weights only
    options: Dict[str, Any] = field(default_factory=dict)  # get_model overrides


@dataclass
class LossConfig:
    name: str = "smooth_wing"
    options: Dict[str, Any] = field(default_factory=dict)  # t, w, eps, scale


LR_SCHEDULES = ("step", "cosine")
SELECT_BY = ("auc", "auc_flip")


@dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32  # global: split across devices
    lr: float = 1e-3
    lr_steps: List[int] = field(default_factory=lambda: [50, 75])  # epochs
    lr_factor: float = 0.1
    lr_schedule: str = "step"  # step: x lr_factor at lr_steps; cosine: to lr_factor * lr
    warmup_iters: int = 0  # linear warmup from 0 over this many iterations
    optimizer: str = "lamb"  # or another of optimizer_names()
    # LAMB only: parameters (by name ending) that take a plain Adam step, no trust ratio
    # (engine/optimizer.py). Under the trust ratio an array that starts near zero (the
    # queries, biases, norm shifts, the heatmap baselines' N(0, 0.001) output layer
    # maps_weight) grows by at most ~lr relative per step and barely trains: measured in
    # docs/training.md.
    lamb_exclude: List[str] = field(
        default_factory=lambda: ["bias", "gamma", "beta", "queries", "maps_weight"])
    wd: float = 0.0
    seed: int = 0
    val_every: int = 1  # epochs
    checkpoint_every: int = 1  # epochs between last.ckpt writes (and always the last epoch)
    select_by: str = "auc_flip"  # validation metric that picks best.ckpt
    amp: bool = False  # float16 mixed precision, GPU only
    # Several devices in one process (--gpus 0,1,..): normalise BatchNorm over the whole
    # batch (SyncBatchNorm), as one device would, instead of over each device's share.
    sync_bn: bool = True


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class ConfigError(UserError):
    """A config file or override is wrong; the message names the key and where it came from."""


# Sections whose unknown keys are passed through to a factory that validates them.
_OPEN_SECTIONS = {"model": ("name", "backbone_weights", "init_from"), "loss": ("name",)}


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, also reading ``1e-3`` as a number: YAML 1.1 (PyYAML) wants a dot
    in the mantissa and would read ``lr: 1e-3`` as a string; YAML 1.2 reads it as a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def parse_yaml(stream: Any) -> Any:
    """YAML text or an open file -> Python values, with ``1e-3`` read as a float."""
    return yaml.load(stream, Loader=_Loader)


def _read_yaml(path: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: config file does not exist")
    with open(path, encoding="utf-8") as f:
        try:
            data = parse_yaml(f) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def _merge(base: Dict[str, Any], override: Dict[str, Any], origins: Dict[str, str],
           where: str, prefix: str = "") -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if (not prefix and key in _OPEN_SECTIONS and isinstance(value, dict)
                and isinstance(out.get(key), dict) and "name" in value
                and value["name"] != out[key].get("name")):
            out[key] = _renamed_section(key, out[key], origins)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, origins, where, dotted + ".")
        else:
            out[key] = copy.deepcopy(value)
            _forget(origins, dotted)
            _record(value, dotted, where, origins)
    return out


# Keys of a section that survive naming another model: how the run starts, not what it is.
_KEPT_ON_RENAME = {"model": ("backbone_weights", "init_from"), "loss": ()}


def _renamed_section(section: str, old: Dict[str, Any], origins: Dict[str, str]
                     ) -> Dict[str, Any]:
    """What is left of ``section`` when another model or loss is named: the old one's options
    do not apply to the new one, except the run's start (:data:`_KEPT_ON_RENAME`)."""
    kept = {k: v for k, v in old.items() if k in _KEPT_ON_RENAME[section]}
    for key in [k for k in old if k not in kept]:
        _forget(origins, f"{section}.{key}")
    return kept


def _forget(origins: Dict[str, str], dotted: str) -> None:
    for old in [k for k in origins if k == dotted or k.startswith(dotted + ".")]:
        del origins[old]


def _record(value: Any, dotted: str, where: str, origins: Dict[str, str]) -> None:
    origins[dotted] = where
    if isinstance(value, dict):
        for key, sub in value.items():
            _record(sub, f"{dotted}.{key}", where, origins)


def load_raw(path: str, _seen: Tuple[str, ...] = ()) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """A config file merged over its ``base:`` chain, and the file each key came from."""
    path = os.path.normpath(path)
    if path in _seen:
        raise ConfigError(f"{path}: base files form a cycle: {' -> '.join(_seen + (path,))}")
    data = _read_yaml(path)
    base_name = data.pop("base", None)
    merged, origins = {}, {}
    if base_name:
        base_path = os.path.join(os.path.dirname(path), str(base_name))
        merged, origins = load_raw(base_path, _seen + (path,))
    return _merge(merged, data, origins, path), origins


def apply_overrides(raw: Dict[str, Any], origins: Dict[str, str],
                    items: Optional[List[str]]) -> Dict[str, Any]:
    """Apply ``section.key=value`` strings (values parsed as YAML).

    The ``--set`` items form one more layer over the files, merged by the same rule
    (:func:`_merge`): a ``--set model.name=...`` that names another model replaces the
    inherited section, and every other ``--set model.KEY`` applies to the new model whatever
    its position among the items.
    """
    layer: Dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. train.epochs=1")
        node, inherited = layer, raw
        for part in parts[:-1]:
            inherited = inherited.get(part, {}) if isinstance(inherited, dict) else {}
            if not isinstance(inherited, dict) or not isinstance(node.get(part, {}), dict):
                raise ConfigError(f"--set {item!r}: {part} is not a section")
            node = node.setdefault(part, {})
        node[parts[-1]] = parse_yaml(text)
    return _merge(raw, layer, origins, "--set")


def _check_type(value: Any, annotation: Any, dotted: str, where: str) -> Any:
    """``value`` as the field's type says (ints are numbers too), or a ConfigError."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(value, inner[0], dotted, where) if len(inner) == 1 else value
    if value is None:
        raise ConfigError(f"{where}: {dotted} must not be empty")
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {dotted} must be a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {dotted} must be a whole number, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {dotted} must be true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {dotted} must be text, got {value!r}")
        return value
    if origin is list:
        kind = {str: "names", int: "whole numbers", float: "numbers"}.get(args[0], "values")
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {dotted} must be a list of {kind}, got {value!r}")
        try:
            return [_check_type(v, args[0], dotted, where) for v in value]
        except ConfigError:
            raise ConfigError(f"{where}: {dotted} must be a list of {kind}, "
                              f"got {value!r}") from None
    if origin is dict and not isinstance(value, dict):
        raise ConfigError(f"{where}: {dotted} must be a section (key: value lines), "
                          f"got {value!r}")
    return value


def _build(cls, values: Any, origins: Dict[str, str], default_where: str, prefix: str):
    where_of = lambda dotted: origins.get(dotted, default_where)
    if not isinstance(values, dict):
        raise ConfigError(f"{where_of(prefix.rstrip('.'))}: {prefix.rstrip('.')} must be a "
                          f"section (key: value lines)")
    types = typing.get_type_hints(cls)
    section = prefix.rstrip(".")
    open_keys = _OPEN_SECTIONS.get(section)
    kwargs, extra = {}, {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if open_keys is not None and key not in open_keys:
            extra[key] = value
            continue
        if key not in types or key == "options":
            close = difflib.get_close_matches(key, [k for k in types if k != "options"], 1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise ConfigError(f"{where_of(dotted)}: unknown key {dotted}{hint}; "
                              f"{section or 'top level'} takes "
                              f"{sorted(k for k in types if k != 'options')}")
        if dataclasses.is_dataclass(types[key]):
            kwargs[key] = _build(types[key], value, origins, default_where, dotted + ".")
        else:
            kwargs[key] = _check_type(value, types[key], dotted, where_of(dotted))
    if open_keys is not None:
        kwargs["options"] = extra
    return cls(**kwargs)


_Problem = Optional[Tuple[str, str]]  # (the key at fault, "KEY must be ..., got ...")


def _model_problem(m: ModelConfig) -> _Problem:
    from .model_zoo import list_models, model_options

    if m.name not in list_models():
        return "model.name", f"model.name {m.name!r} is not one of {list_models()}"
    allowed = model_options(m.name)
    for key in m.options:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), 1)
            hint = f" (did you mean model.{close[0]}?)" if close else ""
            return f"model.{key}", (f"unknown key model.{key}{hint}; {m.name} takes name, "
                                    f"backbone_weights, init_from and {sorted(allowed)}")
    return None


def _loss_problem(loss: LossConfig) -> _Problem:
    from .losses import get_loss

    try:
        get_loss(loss.name, **loss.options)
    except ValueError as err:
        return "loss.name", str(err)
    return None


def optimizer_names() -> List[str]:
    """``train.optimizer``'s choices: MXNet's optimizers (``lamb`` is built as the project's
    ``SelectiveLAMB``, engine/optimizer.py)."""
    import mxnet as mx

    return sorted(mx.optimizer.Optimizer.opt_registry)


def _train_problem(t: TrainConfig) -> _Problem:
    for key in ("epochs", "batch_size", "val_every", "checkpoint_every"):
        if getattr(t, key) < 1:
            return f"train.{key}", f"train.{key} must be at least 1, got {getattr(t, key)}"
    if not t.lr > 0:
        return "train.lr", f"train.lr must be positive, got {t.lr}"
    choices = {"lr_schedule": LR_SCHEDULES, "select_by": SELECT_BY,
               "optimizer": optimizer_names()}
    for key, allowed in choices.items():
        value = getattr(t, key)
        if value not in allowed:
            return f"train.{key}", f"train.{key} must be one of {list(allowed)}, got {value!r}"
    return None


def _validate(cfg: Config, origins: Dict[str, str], default_where: str) -> None:
    """Each section checked by its own rule, the first problem raised naming its file."""
    for check, section in ((_model_problem, cfg.model), (_loss_problem, cfg.loss),
                           (bad_choice, cfg.data), (_train_problem, cfg.train)):
        problem = check(section)
        if problem:
            key, message = problem
            raise ConfigError(f"{origins.get(key, default_where)}: {message}")


def load_config(path: str, overrides: Optional[List[str]] = None,
                layers: Sequence[Tuple[str, Dict[str, Any]]] = ()) -> Config:
    """Load, merge, override and validate a config; raises :class:`ConfigError`.

    ``layers`` are ``(where, sections)`` pairs, each sections mapping written as a config file
    is (without ``base:``), merged in order over ``path``'s chain by the same rule and before
    ``overrides``; ``where`` names them in errors (a reproduction budget, reproduce/plan.py).
    """
    raw, origins = load_raw(path)
    for where, sections in layers:
        raw = _merge(raw, sections, origins, where)
    raw = apply_overrides(raw, origins, overrides)
    cfg = _build(Config, raw, origins, os.path.normpath(path), "")
    _validate(cfg, origins, os.path.normpath(path))
    return cfg


def config_to_dict(cfg: Config) -> Dict[str, Any]:
    """The resolved config as plain YAML-able data, in the file layout (options flattened)."""
    data = dataclasses.asdict(cfg)
    for section in ("model", "loss"):
        data[section].update(data[section].pop("options"))
    return data


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def config_from_dict(data: Dict[str, Any], where: str = "checkpoint") -> Config:
    """Rebuild a config saved by :func:`config_to_dict` (e.g. from a checkpoint)."""
    cfg = _build(Config, copy.deepcopy(data), {}, where, "")
    _validate(cfg, {}, where)
    return cfg


def resolve_split(cfg: DataConfig, split: str) -> str:
    """The folder (or file) of ``split`` (train/val/test), checked to exist."""
    relative = getattr(cfg, split)
    if cfg.root is None and not os.path.isabs(relative):
        raise ConfigError(f"data.root is not set: pass --set data.root=PATH (the folder holding "
                          f"{cfg.train}/, {cfg.val}/ and {cfg.test}/)")
    path = relative if os.path.isabs(relative) else os.path.join(cfg.root, relative)
    # A RecordIO pack's split is its prefix: ROOT/train means ROOT/train.rec (+ .idx, .json);
    # a COCO split may be named without its .json.
    if not any(os.path.exists(p) for p in (path, path + ".rec", path + ".json")):
        raise ConfigError(f"data.{split}: none of {path}, {path}.rec, {path}.json exists; set "
                          f"data.root (now {cfg.root!r}) to the dataset folder (or a "
                          f"tools/pack_rec.py pack), or data.{split} to the split")
    return path
