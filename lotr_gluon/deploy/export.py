"""Export a model as MXNet ``NAME-symbol.json`` + ``NAME-0000.params`` with a JSON sidecar."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Dict

import mxnet as mx
from mxnet import gluon

from .._version import __version__
from ..fileio import atomic_path, atomic_write_text


def export_symbol(net: gluon.HybridBlock, out_dir: str, name: str) -> Dict[str, str]:
    """Hybridize ``net`` and write its graph, weights and a sidecar into ``out_dir``.

    The exported graph takes float32 RGB 0..255 NCHW crops of ``net.input_size`` and returns
    ``(B, N, 2)`` crop-pixel coordinates; it loads with ``mxnet.gluon.SymbolBlock.imports``
    and needs no code from this package.

    Returns
    -------
    dict
        Paths of the ``symbol``, ``params`` and ``sidecar`` files.
    """
    size = net.input_size
    net.hybridize(static_alloc=True, static_shape=True)
    net(mx.nd.zeros((1, 3, size, size)))  # builds the cached graph that export() writes
    os.makedirs(out_dir, exist_ok=True)
    paths = {"symbol": os.path.join(out_dir, f"{name}-symbol.json"),
             "params": os.path.join(out_dir, f"{name}-0000.params"),
             "sidecar": os.path.join(out_dir, f"{name}.json")}
    staging = tempfile.mkdtemp(prefix=".export-", dir=out_dir)
    try:
        net.export(os.path.join(staging, name), epoch=0)
        for key in ("symbol", "params"):
            with atomic_path(paths[key]) as tmp:
                shutil.copyfile(os.path.join(staging, os.path.basename(paths[key])), tmp)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    sidecar = {"model": name, "num_points": net.num_points, "input_size": size,
               "input": "float32 RGB 0..255, NCHW", "output": "(B, N, 2) x, y in crop pixels",
               "input_name": "data", "lotr_gluon_version": __version__}
    atomic_write_text(paths["sidecar"], json.dumps(sidecar, indent=2) + "\n")
    return paths
