"""Hybridization and export: the graph a deployment loads gives the Gluon model's numbers."""
import json
import os
import subprocess
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest

import lotr_gluon
from lotr_gluon.deploy.export import export_symbol


def _relative_error(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-6)


@pytest.mark.parametrize("name", ["lotr_m", "lotr_m+", "cnn_ffn_m"])
def test_hybridized_equals_imperative(name):
    net = lotr_gluon.get_model(name)
    x = mx.nd.random.uniform(0, 255, (2, 3, 192, 192))
    eager = net(x).asnumpy()
    net.hybridize(static_alloc=True, static_shape=True)
    assert _relative_error(net(x).asnumpy(), eager) < 1e-5


def test_export_then_import_in_fresh_process(tmp_path):
    net = lotr_gluon.get_model("lotr_m", num_points=68)
    x = np.random.RandomState(1).uniform(0, 255, (2, 3, 192, 192)).astype(np.float32)
    expected = net(mx.nd.array(x)).asnumpy()
    paths = export_symbol(net, str(tmp_path), "lotr_m")
    np.save(tmp_path / "x.npy", x)

    # A process that imports only mxnet and numpy, as a deployment would.
    script = textwrap.dedent(f"""
        import mxnet as mx, numpy as np
        net = mx.gluon.SymbolBlock.imports({paths['symbol']!r}, ['data'], {paths['params']!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        np.save({str(tmp_path / 'y.npy')!r}, net(mx.nd.array(x)).asnumpy())
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    got = np.load(tmp_path / "y.npy")
    assert got.shape == (2, 68, 2)
    assert _relative_error(got, expected) < 1e-5

    sidecar = json.loads(open(paths["sidecar"]).read())
    assert sidecar["model"] == "lotr_m" and sidecar["num_points"] == 68
    assert sidecar["input_size"] == 192
    leftovers = [f for f in os.listdir(tmp_path) if f.startswith(".")]
    assert leftovers == []  # the staging folder and temp files are gone
