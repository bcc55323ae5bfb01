"""Where a backbone's first weights come from: gluoncv's model store, a file, or nowhere.

``backbone_weights`` (``get_model`` and the config's ``model.backbone_weights``) is one of

- ``imagenet``: gluoncv's ImageNet classifier file from its model store, exactly as gluoncv's
  own ``pretrained=True`` finds it: ``$MXNET_HOME/models`` (default ``~/.mxnet/models``), the
  file named for its sha1 (``mobilenetv2_1.0-f9952bcd.params``, ``resnet50_v1b-0ecdba34.params``).
  gluoncv checks the sha1 and downloads the file when it is missing, on a machine with
  internet; offline that is one :class:`BackboneWeightsError` naming the file, its sha1 and
  the folder to put it in.
- ``none`` (or empty): random initialisation, an explicit choice.
- a path to a gluoncv ``.params`` file (``~`` is expanded).
"""
from __future__ import annotations

import os
from typing import Optional

from .errors import UserError

IMAGENET = "imagenet"
RANDOM = "none"


class BackboneWeightsError(UserError):
    """A backbone weights file is missing, cannot be fetched, or does not fit the backbone."""


def model_store_dir() -> str:
    """gluoncv's model store: ``$MXNET_HOME/models``, else ``~/.mxnet/models``."""
    home = os.environ.get("MXNET_HOME") or os.path.join("~", ".mxnet")
    return os.path.expanduser(os.path.join(home, "models"))


def store_file(store_name: str) -> str:
    """The model-store file name of gluoncv's ``store_name`` classifier, e.g.
    ``resnet50_v1b-0ecdba34.params`` (the sha1's first 8 digits, as gluoncv names it)."""
    from gluoncv.model_zoo.model_store import short_hash

    return f"{store_name}-{short_hash(store_name)}.params"


def store_sha1(store_name: str) -> str:
    from gluoncv.model_zoo.model_store import _model_sha1

    return _model_sha1[store_name]


def imagenet_weights(store_name: str) -> str:
    """Path of gluoncv's ImageNet ``store_name`` weights, fetched by gluoncv if need be.

    Raises
    ------
    BackboneWeightsError
        When the file is not in the model store and cannot be downloaded.
    """
    from gluoncv.model_zoo import model_store

    folder = model_store_dir()
    try:
        return model_store.get_model_file(store_name, root=folder)
    except Exception as err:  # noqa: BLE001 - requests, OSError, zipfile, portalocker: all mean
        # the same thing to the user, and each names its own cause in the message below.
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise BackboneWeightsError(
            f"backbone_weights: imagenet needs {store_file(store_name)} (sha1 "
            f"{store_sha1(store_name)}) in {folder}: it is not there and could not be downloaded "
            f"({type(err).__name__}: {reason}). Put the file there (gluoncv fetches it on a "
            f"machine with internet; set MXNET_HOME to use another store), or set "
            f"model.backbone_weights: none to train from random weights") from None


def describe_start(value: Optional[str]) -> str:
    """``value`` in its one spelling: ``imagenet``, ``none`` or the file, ``~`` expanded
    (also how a run's log records its backbone's start)."""
    text = "" if value is None else str(value).strip()
    if text.lower() in ("", RANDOM):
        return RANDOM
    return IMAGENET if text.lower() == IMAGENET else os.path.expanduser(str(value))


def resolve_backbone_weights(value: Optional[str], store_name: str) -> Optional[str]:
    """``imagenet`` / ``none`` / a path -> the ``.params`` file to load, or None for random."""
    start = describe_start(value)
    if start == RANDOM:
        return None
    return imagenet_weights(store_name) if start == IMAGENET else start
