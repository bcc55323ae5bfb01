import mxnet as mx
import pytest

import lotr_gluon

# A port nothing listens on: a download attempted from a test is refused at once, never sent.
UNREACHABLE_REPO = "http://127.0.0.1:9/"


@pytest.fixture(autouse=True)
def empty_model_store(tmp_path_factory, monkeypatch):
    """Tests never download: gluoncv's model store is an empty folder and its repository a
    closed local port, so ``backbone_weights: imagenet`` fails fast instead of fetching."""
    monkeypatch.setenv("MXNET_HOME", str(tmp_path_factory.mktemp("mxnet_home")))
    monkeypatch.setenv("MXNET_GLUON_REPO", UNREACHABLE_REPO)


@pytest.fixture(scope="session")
def built_model():
    """Build a registered model once per session (initialised, shapes resolved) and reuse it."""
    cache = {}

    def build(name: str):
        if name not in cache:
            net = lotr_gluon.get_model(name)
            net(mx.nd.zeros((1, 3, net.input_size, net.input_size)))
            cache[name] = net
        return cache[name]

    return build
