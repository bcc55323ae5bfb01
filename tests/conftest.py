import mxnet as mx
import pytest

import lotr_gluon


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
