import importlib.util
import os

# SyncBatchNorm on two CPU contexts (standing in for two GPUs) needs more of MXNet's CPU
# workspaces than the default: MXNet keeps one pool of them for all CPU contexts
# (MXNET_CPU_TEMP_COPY, default 4, handed out in turn), so device 1's op can wait for the
# workspace device 0's SyncBatchNorm backward holds while that one waits at the barrier for
# device 1: a deadlock in about 1 run of 6 (measured). With CPU_TEMP_COPIES (more than a step
# of LOTR-M on two devices asks for) none is shared: 39 of 39 runs clean. But each copy keeps
# memory (4096 grew the test process to 25 GB of address space), and a whole test session with
# 1024 grew past what a fork may commit (ENOMEM in a later test). So the tests marked
# multi_device run in a process of their own, started by
# test_engine.py::test_multi_device_tests_run_in_their_own_process with LOTR_MULTI_DEVICE=1;
# the setting must be made before MXNet is imported. GPUs have a pool each.
CPU_TEMP_COPIES = 1024
MULTI_DEVICE_PROCESS = os.environ.get("LOTR_MULTI_DEVICE") == "1"
if MULTI_DEVICE_PROCESS:
    os.environ.setdefault("MXNET_CPU_TEMP_COPY", str(CPU_TEMP_COPIES))

import mxnet as mx  # noqa: E402
import pytest  # noqa: E402

import lotr_gluon  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """multi_device tests run only in their own process (see above)."""
    if MULTI_DEVICE_PROCESS:
        return
    skip = pytest.mark.skip(reason="runs in its own process: "
                                   "test_multi_device_tests_run_in_their_own_process")
    for item in items:
        if "multi_device" in item.keywords:
            item.add_marker(skip)


# A port nothing listens on: a download attempted from a test is refused at once, never sent.
UNREACHABLE_REPO = "http://127.0.0.1:9/"


@pytest.fixture(autouse=True)
def empty_model_store(tmp_path_factory, monkeypatch):
    """Tests never download: gluoncv's model store is an empty folder and its repository a
    closed local port, so ``backbone_weights: imagenet`` fails fast instead of fetching; so is
    insightface's model zoo, so a RetinaFace pack is never fetched."""
    monkeypatch.setenv("MXNET_HOME", str(tmp_path_factory.mktemp("mxnet_home")))
    monkeypatch.setenv("MXNET_GLUON_REPO", UNREACHABLE_REPO)
    if importlib.util.find_spec("insightface") is not None:
        from insightface.utils import storage

        monkeypatch.setattr(storage, "MODEL_ZOO_RELEASE_DOWNLOAD_URL", UNREACHABLE_REPO)


@pytest.fixture(scope="session")
def fastest_onnx_backend() -> str:
    """What the Predictor's ``auto`` should pick for a float32 export with NAME.onnx, from the
    measurements (docs/benchmarks.md): OpenVINO in bfloat16 where the CPU has bf16
    instructions (the kernel's flags say) and OpenVINO is installed, else onnxruntime."""
    import importlib.util

    with open("/proc/cpuinfo", encoding="utf-8") as f:
        flags = set(f.read().split())
    bf16 = bool({"avx512_bf16", "amx_bf16"} & flags)
    return ("openvino-bf16" if bf16 and importlib.util.find_spec("openvino") is not None
            else "onnxruntime")


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
