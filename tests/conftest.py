import os

# Before MXNet starts: the tests train on two CPU contexts to stand in for two GPUs. MXNet
# keeps one pool of temporary-workspace resources for all CPU contexts (MXNET_CPU_TEMP_COPY,
# default 4, handed out in turn), so device 1's op can wait for a workspace that device 0's
# SyncBatchNorm backward holds while that one waits at the barrier for device 1: a deadlock,
# in about 1 of 6 runs (measured). With more copies than a step asks for, none is shared.
# GPUs do not meet this: each has its own pool. The value is engine.CPU_TEMP_COPIES (checked
# below; it must be set before MXNet is imported).
os.environ.setdefault("MXNET_CPU_TEMP_COPY", "1024")

import mxnet as mx  # noqa: E402
import pytest  # noqa: E402

import lotr_gluon  # noqa: E402
from lotr_gluon.engine import CPU_TEMP_COPIES  # noqa: E402

assert int(os.environ["MXNET_CPU_TEMP_COPY"]) >= CPU_TEMP_COPIES, "see the note above"

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
