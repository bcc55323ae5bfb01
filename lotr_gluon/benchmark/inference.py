"""Inference speed per backend, Table 3 style: latency at batch 1 with and without flip TTA,
throughput at a larger batch, and the face detector's time on a 640x480 photo."""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np

from ..data.image_file import read_image_file
from ..deploy.backends import BACKENDS, DEFAULT_BACKEND, make_runner, resolve_backend
from ..deploy.model_files import ExportedModel, find_exported
from ..deploy.openvino_runtime import PRECISIONS as OPENVINO_PRECISIONS
from ..errors import UserError
from ..flip import predict_with_flip
from .timing import Timing, measure

# The exported symbol/params on MXNet, whichever backend the Predictor picks: the graph the
# ratio lines compare with onnxruntime, and what --compare times by default.
GRAPH_BACKEND = "mxnet"


@dataclass(frozen=True)
class SpeedRow:
    """One measured configuration (the ``--json`` row format)."""

    model: str
    backend: str
    batch: int
    flip: bool
    latency_ms_mean: float
    latency_ms_std: float
    throughput_ips: float
    default: bool = False
    precision: str = "float32"
    latency_ms_median: Optional[float] = None

    @property
    def typical_ms(self) -> float:
        """The median when measured (what ratios use: a shared machine's spikes move the mean
        of a few runs), else the mean."""
        return self.latency_ms_mean if self.latency_ms_median is None else self.latency_ms_median

    @classmethod
    def of(cls, model: str, backend: str, batch: int, flip: bool, timing: Timing,
           default: bool = False, precision: str = "float32") -> "SpeedRow":
        """A row from a timing of one batch: throughput is images per second."""
        return cls(model, backend, batch, flip, round(timing.mean_ms, 3),
                   round(timing.std_ms, 3), round(batch / (timing.mean_ms / 1e3), 2), default,
                   precision, None if math.isnan(timing.median_ms) else round(timing.median_ms, 3))

    def to_dict(self) -> Dict:
        row = asdict(self)
        if not self.default:
            del row["default"]
        return row


def export_random(name: str, out_dir: str, overrides: Optional[Dict] = None,
                  onnx: bool = True, precision: str = "float32") -> ExportedModel:
    """Export ``get_model(name)`` with random weights (speed does not depend on them); an
    ``int8`` export is calibrated on noise crops (fine for timing, not for landmarks)."""
    from ..deploy.export import export_symbol
    from ..model_zoo import get_model

    net = get_model(name, **(overrides or {}))
    calibration = None
    if precision == "int8":
        size = net.input_size
        calibration = np.random.RandomState(1).uniform(0, 255, (16, 3, size, size))
        onnx = False
    export_symbol(net, out_dir, name, trained=False, onnx=["lotr"] if onnx else [],
                  precision=precision, calibration=calibration)
    return find_exported(out_dir)


def benchmark_backends(model: ExportedModel, backends: Sequence[str] = BACKENDS,
                       batch_sizes: Sequence[int] = (1, 32), warmup: int = 5, repeat: int = 30,
                       report: Callable[[str], None] = print) -> List[SpeedRow]:
    """Time the exported model on each backend, each batch size, without and with flip TTA.

    Flip TTA runs the crops and their mirrors as one batch of twice the size and averages the
    renumbered mirror predictions (what the Predictor does), so its time includes that work.
    Larger batches are repeated fewer times (at least 5) to bound the run time.
    """
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise UserError(f"unknown backend(s) {sorted(unknown)}; expected {BACKENDS}")
    size = model.sidecar.input_size
    flip_perm = list(model.sidecar.flip_perm)
    precision = model.sidecar.precision
    default = resolve_backend(model)  # the one the Predictor would pick
    rng = np.random.RandomState(0)
    rows = []
    for backend in backends:
        run = make_runner(model, backend, back_to_back=True)
        for batch in batch_sizes:
            crops = rng.uniform(0, 255, (batch, 3, size, size)).astype(np.float32)
            times = max(5, repeat // batch) if batch > 1 else repeat
            for flip in (False, True):
                fn = ((lambda c=crops: predict_with_flip(run, c, flip_perm)) if flip
                      else (lambda c=crops: run(c)))
                timing = measure(fn, warmup=min(warmup, times), repeat=times)
                row = SpeedRow.of(model.name, backend, batch, flip, timing,
                                  default=backend == default,
                                  precision=precision)
                rows.append(row)
                label = backend if precision == "float32" else f"{backend} {precision}"
                report(f"  {label:<13} batch {batch:>3} {'flip' if flip else 'plain':<5} "
                       f"{timing} ms (median {timing.median_ms:.2f})  "
                       f"{row.throughput_ips:8.1f} img/s")
    return rows


def detector_photo(path: Optional[str] = None) -> np.ndarray:
    """A 640x480 BGR photo with faces: ``path``, else the photo bundled with insightface."""
    from ..data.detector import bundled_photo

    path = path or bundled_photo()
    if path is None:
        raise FileNotFoundError("no photo for the detector benchmark: pass --photo PATH (any "
                                "photo with a face) or install the detect extra")
    return cv2.resize(read_image_file(path), (640, 480), interpolation=cv2.INTER_AREA)


def benchmark_detector(image: np.ndarray, name: str = "default", model_path: Optional[str] = None,
                       warmup: int = 2, repeat: int = 10) -> Timing:
    """Time one detector call on ``image`` (the paper reports RetinaFace's 43 ms separately)."""
    from ..data.detector import get_detector

    detector = get_detector(name, model_path=model_path)
    return measure(lambda: detector(image), warmup=warmup, repeat=repeat)


def ratio_lines(rows: Sequence[SpeedRow]) -> List[str]:
    """The batch-1 ratios a reader compares, one line each, of medians
    (:attr:`SpeedRow.typical_ms`): the ``mxnet`` graph and each OpenVINO precision against
    onnxruntime, flip TTA against no flip on that graph, and the int8 graph against both
    float32 runs, where timed."""
    def find(backend, flip, precision="float32"):
        return next((r for r in rows if r.backend == backend and r.batch == 1
                     and r.flip == flip and r.precision == precision), None)

    graph = GRAPH_BACKEND
    lines = []
    default, onnx = find(graph, False), find("onnxruntime", False)
    if default and onnx:
        lines.append(f"{graph} batch-1 latency is {default.typical_ms / onnx.typical_ms:.2f}x "
                     f"onnxruntime's")
    for name in OPENVINO_PRECISIONS:
        other = find(name, False)
        if other and onnx:
            lines.append(f"{name} batch-1 latency is {other.typical_ms / onnx.typical_ms:.2f}x "
                         f"onnxruntime's")
    flipped = find(graph, True)
    if default and flipped:
        lines.append(f"flip TTA costs {flipped.typical_ms / default.typical_ms:.2f}x no flip "
                     f"on {graph}")
    int8 = find(graph, False, "int8")
    if int8 and onnx and default:
        lines.append(f"{graph} int8 batch-1 latency is "
                     f"{int8.typical_ms / onnx.typical_ms:.2f}x onnxruntime's "
                     f"float32 ({int8.typical_ms / default.typical_ms:.2f}x "
                     f"float32 on {graph})")
    return lines


def markdown_table(rows: Sequence[SpeedRow], paper_gpu_ms: Optional[Sequence] = None) -> str:
    """Rows as a markdown table; the paper's V100 batch-1 latency beside batch-1 rows."""
    lines = ["| model | backend | batch | flip | median ms | mean ms | img/s | paper V100 ms |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        paper = "-"
        if paper_gpu_ms and r.batch == 1:
            mean, std = paper_gpu_ms[int(r.flip)]
            paper = f"{mean:.2f} +- {std:.2f}"
        name = r.backend if r.precision == "float32" else f"{r.backend} {r.precision}"
        name = f"**{name}**" if r.default else name
        lines.append(f"| {r.model} | {name} | {r.batch} | {'yes' if r.flip else 'no'} | "
                     f"{r.typical_ms:.2f} | {r.latency_ms_mean:.2f} +- {r.latency_ms_std:.2f} | "
                     f"{r.throughput_ips:.1f} | {paper} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class SplitRow:
    """Batch-1 time of one model split into network and post-processing (decoding, flip merge)."""

    model: str
    flip: bool
    network_ms: float
    post_ms: float

    @property
    def total_ms(self) -> float:
        return self.network_ms + self.post_ms

    def to_dict(self) -> Dict:
        return {**asdict(self), "total_ms": round(self.total_ms, 3)}


def split_timing(model: ExportedModel, backend: str = DEFAULT_BACKEND, warmup: int = 5,
                 repeat: int = 30) -> List[SplitRow]:
    """Network and post-processing time at batch 1, without and with flip TTA."""
    from ..flip import merge_mirrored

    spec = model.sidecar.output
    size = model.sidecar.input_size
    crop = np.random.RandomState(0).uniform(0, 255, (1, 3, size, size)).astype(np.float32)
    perm = list(model.sidecar.flip_perm)
    network = make_runner(model, backend, decode=False, back_to_back=True)
    return time_split(model.name, network, spec.decode,
                      lambda points: merge_mirrored(points, size, perm)[1], crop,
                      warmup, repeat)


def time_split(name: str, network: Callable[[np.ndarray], np.ndarray],
               decode: Callable[[np.ndarray], np.ndarray],
               merge: Callable[[np.ndarray], np.ndarray], crop: np.ndarray,
               warmup: int = 5, repeat: int = 30) -> List[SplitRow]:
    """Time ``network`` on ``crop`` (no flip) and on it with its mirror (flip), and apart from
    it the post-processing on the network's output: ``decode``, then ``merge`` with flip."""
    from ..flip import with_mirrors

    rows = []
    for flip, batch in ((False, crop), (True, with_mirrors(crop))):
        raw = network(batch)
        post = ((lambda r=raw: merge(decode(r))) if flip else (lambda r=raw: decode(r)))
        net_t = measure(lambda b=batch: network(b), warmup=warmup, repeat=repeat)
        post_t = measure(post, warmup=warmup, repeat=repeat)
        rows.append(SplitRow(name, flip, round(net_t.mean_ms, 3), round(post_t.mean_ms, 3)))
    return rows


def compare_markdown(rows: Sequence[SplitRow], table3: Dict, backend: str) -> str:
    """Split timings beside the paper's Table 3 V100 latency, and LOTR / heatmap ratios."""
    lines = ["| model | flip | network ms | post-processing ms | total ms | paper V100 ms |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        ref = table3.get(r.model, {}).get("gpu_ms")
        paper = f"{ref[int(r.flip)][0]:.2f}" if ref else "-"
        lines.append(f"| {r.model} | {'yes' if r.flip else 'no'} | {r.network_ms:.2f} | "
                     f"{r.post_ms:.2f} | {r.total_ms:.2f} | {paper} |")
    totals = {(r.model, r.flip): r.total_ms for r in rows}
    names = list(dict.fromkeys(r.model for r in rows))
    lotr = [m for m in names if m.startswith("lotr")]
    heat = [m for m in names if m.startswith("heatmap")]
    notes = []
    for a in lotr:
        for b in heat:
            backbones = {table3.get(m, {}).get("backbone") for m in (a, b)}
            if len(backbones) != 1:  # compare like with like: the same backbone
                continue
            for flip in (False, True):
                ours = totals[(a, flip)] / totals[(b, flip)]
                ref_a, ref_b = table3.get(a, {}).get("gpu_ms"), table3.get(b, {}).get("gpu_ms")
                paper = (f", paper {ref_a[int(flip)][0] / ref_b[int(flip)][0]:.2f}"
                         if ref_a and ref_b else "")
                notes.append(f"- {a} / {b}{' with flip' if flip else ''}: {ours:.2f}{paper}")
    return "\n".join(lines + ["", f"Backend: {backend}, batch 1. Time ratios (lower: LOTR "
                                    "faster):"] + notes)


def compare_models_by_name(names: Sequence[str], backend: str = GRAPH_BACKEND,
                           warmup: int = 5, repeat: int = 30,
                           report: Callable[[str], None] = print) -> List[SplitRow]:
    """:func:`split_timing` for each named model (random weights), in one process."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="lotr-compare-") as tmp:
        for name in names:
            model = export_random(name, os.path.join(tmp, name),
                                  onnx=backend in ("onnxruntime", "opencv"))
            for row in split_timing(model, backend, warmup, repeat):
                report(f"  {row.model:<14} {'flip ' if row.flip else 'plain'} network "
                       f"{row.network_ms:7.2f} ms  post {row.post_ms:6.2f} ms")
                rows.append(row)
    return rows


def benchmark_model_by_name(name: str, overrides: Optional[Dict] = None,
                            precisions: Sequence[str] = ("float32",),
                            backends: Sequence[str] = BACKENDS, **kwargs) -> List[SpeedRow]:
    """Export ``name`` with random weights to a temporary folder and benchmark it; an int8
    export (:mod:`..deploy.quantize`) runs on the ``mxnet`` backend only.

    Each backend is timed in a fresh process of its own: in one process the runtimes' thread
    pools compete for the cores (docs/benchmarks.md).
    """
    rows: List[SpeedRow] = []
    with tempfile.TemporaryDirectory(prefix="lotr-bench-") as tmp:
        for precision in precisions:
            folder = os.path.join(tmp, precision)
            export_random(name, folder, overrides, precision=precision)
            for backend in backends:
                if precision == "float32" or backend == "mxnet":
                    rows += _in_fresh_process(_benchmark_folder, folder, [backend], kwargs)
    return rows


def _benchmark_folder(folder: str, backends: Sequence[str], options: Dict) -> List[SpeedRow]:
    return benchmark_backends(find_exported(folder), backends, **options)


def _in_fresh_process(function, *args):
    """``function(*args)`` in a new Python process (spawned: nothing of this one's runtimes
    is inherited; the environment, e.g. MXNET_ENGINE_TYPE, is)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()
