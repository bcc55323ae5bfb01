"""Speed of a model per inference backend (Table 3 style), of the face detector, of a photo
through the Predictor, of the loader, of video tracking.

For --model: Params, Size and GFLOPs beside the paper's Table 3; latency (mean +- std, ms,
warm-up excluded) at batch 1 without and with flip TTA, and throughput at batch 32, for each
backend: mxnet (static graph, oneDNN-fused), mxnet-static (without oneDNN), onnxruntime
(its threads spinning between forwards, its own default and fastest setting here), opencv
(the ONNX file in cv2.dnn), openvino and openvino-bf16 (the ONNX file compiled by OpenVINO,
float32 or bfloat16). The row marked default is the one the Predictor's auto backend picks.
The model has random weights (speed does not depend on them). Then the default detector on
a 640x480 photo, reported separately as the paper reports RetinaFace's 43 ms.
OMP_NUM_THREADS is the CPUs this process may use unless already set (lotr_gluon.runtime).

--compare NAME... times several models in one run on one backend at batch 1, split into the
network and the post-processing (heatmap decoding with DARK, flip merging), beside the
paper's Table 3, with the LOTR / heatmap time ratios.

The batch-1 ratios of medians follow the table: the mxnet graph against onnxruntime, flip
TTA against no flip, int8 against float32. Run each backend in its own process (--backend
NAME) when comparing runtimes: in one process their thread pools compete.

--loader times augmented 192x192 training crops per second through the DataLoader, reading
photos, the crop cache (data.cache_dir) and a RecordIO pack (tools/pack_rec.py).

--pipeline DIR times an exported model behind the Predictor on a 640x480 photo (--photo, by
default insightface's t1.jpg with its six faces): the whole call, a median of --repeat, and its
parts: the detector, cutting the crops, the network on all crops at once, mapping the points
back. --backend picks the Predictor's backend (default: its auto).

--video DIR moves faces of --data along trajectories with known truth (rotation, scale, blur,
noise, an exit and re-entry) and compares per-frame detection, tracking and tracking with
One-Euro smoothing: NME, jitter (frame-to-frame change of the error), frames per second; and
a real face (insightface's t1.jpg, or --real-photo) moved the same way, without ground truth:
jitter against the still photo's answer, distance from per-frame detection.

Examples:
  python tools/benchmark.py --model lotr_m --backend all --json runs/bench/lotr_m.json
  python tools/benchmark.py --pipeline runs/demo/export --repeat 30
  python tools/benchmark.py --video runs/lotr_m/export --data data/synth/test --plot trace.png
  python tools/benchmark.py --model lotr_r+ --backend mxnet --markdown
  python tools/benchmark.py --compare lotr_m heatmap_m heatmap_m_vec cnn_ffn_m
  python tools/benchmark.py --loader --data data/synth/train --workers 2
  python tools/benchmark.py --loader --photo-size 1024
"""
import argparse
import json
import os

from lotr_gluon.runtime import configure_runtime

# Before anything imports mxnet: OpenMP threads for the CPUs this process may use, and the
# synchronous engine inference runs on (lotr_gluon/runtime.py).
configure_runtime(engine="NaiveEngine")

from lotr_gluon.cli import parse_overrides, run_main  # noqa: E402
from lotr_gluon.data.detector_names import DETECTOR_HELP, DETECTOR_NAMES  # noqa: E402
from lotr_gluon.errors import UserError  # noqa: E402


def _models(args) -> list:
    from lotr_gluon import get_model
    from lotr_gluon.benchmark.inference import (
        benchmark_detector,
        benchmark_model_by_name,
        detector_photo,
        markdown_table,
        ratio_lines,
    )
    from lotr_gluon.complexity import summarize
    from lotr_gluon.deploy.backends import available_backends
    from lotr_gluon.deploy.sidecar import PRECISIONS
    from lotr_gluon.paper_results import load_paper_results

    backends = list(available_backends()) if args.backend == "all" else args.backend.split(",")
    overrides = parse_overrides(args.set)
    paper = load_paper_results()
    ref = paper["table3"].get(args.model, {}) if not overrides else {}
    summary = summarize(get_model(args.model, **overrides), args.model)
    print(f"{args.model}: Params {summary.params_m:.2f} M (paper {ref.get('params_m', '-')}), "
          f"Size {summary.size_mb:.2f} MB (paper {ref.get('size_mb', '-')}), "
          f"{summary.gflops:.3f} GFLOPs; {os.environ['OMP_NUM_THREADS']} CPU threads")
    precisions = args.precision.split(",")
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown:
        raise UserError(f"--precision {args.precision}: unknown {unknown}; expected a "
                         f"comma-separated list of {list(PRECISIONS)}")
    rows = benchmark_model_by_name(args.model, overrides, precisions=precisions,
                                   backends=backends, batch_sizes=(1, args.batch),
                                   warmup=args.warmup, repeat=args.repeat)
    out = [row.to_dict() for row in rows]
    if args.markdown:
        print(markdown_table(rows, ref.get("gpu_ms")))
    for line in ratio_lines(rows):
        print(line)
    if not args.no_detector:
        from lotr_gluon.data.detector import resolve_detector

        backend, _ = resolve_detector(args.detector)
        timing = benchmark_detector(detector_photo(args.photo), args.detector,
                                    repeat=max(3, args.repeat // 3))
        paper_ms = paper.get("face_detector_ms", ["-", "-"])
        print(f"detector ({args.detector}: {backend}, 640x480 photo): {timing} ms (paper: "
              f"RetinaFace {paper_ms[0]} +- {paper_ms[1]} ms on a V100)")
        out.append({"model": f"detector:{args.detector}", "backend": backend, "batch": 1,
                    "flip": False, "latency_ms_mean": round(timing.mean_ms, 3),
                    "latency_ms_std": round(timing.std_ms, 3),
                    "throughput_ips": round(1e3 / timing.mean_ms, 2)})
    return out


def _compare(args) -> list:
    from lotr_gluon.benchmark.inference import (
        GRAPH_BACKEND,
        compare_markdown,
        compare_models_by_name,
    )
    from lotr_gluon.paper_results import load_paper_results

    backend = GRAPH_BACKEND if args.backend == "all" else args.backend
    rows = compare_models_by_name(args.compare, backend, args.warmup, args.repeat)
    print(compare_markdown(rows, load_paper_results()["table3"], backend))
    return [row.to_dict() for row in rows]


def _loader(args) -> list:
    import tempfile

    from lotr_gluon.benchmark.loader import benchmark_loader, pack_for_benchmark, synthetic_root

    rows = []
    with tempfile.TemporaryDirectory(prefix="lotr-bench-data-") as tmp:
        root = args.data or synthetic_root(tmp, args.loader_batches * 32, args.photo_size)
        pack = pack_for_benchmark(root, args.format, os.path.join(tmp, "pack", "train"),
                                  limit=args.loader_batches * 32)
        for source, fmt, cache in (("photos", args.format, False),
                                   ("cache", args.format, True),
                                   ("recordio", f"{args.format}_rec", False)):
            speed = benchmark_loader(pack if source == "recordio" else root, fmt, args.workers,
                                     32, 192, args.loader_batches, cache=cache)
            print(f"loader ({speed.source}, {speed.workers} workers): "
                  f"{speed.samples_per_s:.0f} augmented 192x192 samples/s")
            rows.append(speed.to_dict())
    return rows


def _pipeline(args) -> list:
    from lotr_gluon.benchmark.inference import detector_photo
    from lotr_gluon.benchmark.pipeline import benchmark_pipeline
    from lotr_gluon.deploy.backends import AUTO
    from lotr_gluon.deploy.predictor import Predictor

    backend = AUTO if args.backend == "all" else args.backend
    row = benchmark_pipeline(Predictor(args.pipeline, backend=backend, detector=args.detector,
                                       min_face_size=args.min_face, refine=args.refine),
                             detector_photo(args.photo), repeat=args.repeat,
                             warmup=min(args.warmup, 5))
    print(row)
    return [{"model": f"pipeline:{row.model}", **row.as_dict()}]


def _video(args) -> list:
    from lotr_gluon.benchmark.video import benchmark_video
    from lotr_gluon.data.detector import bundled_photo

    real = None if args.real_photo == "none" else (args.real_photo or bundled_photo())
    return benchmark_video(args.video, args.data, args.format, detect_every=args.detect_every,
                           plot=args.plot, real_photo=real, passes=args.passes,
                           flip=args.flip, detector=args.detector)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a get_model() name, e.g. lotr_m")
    parser.add_argument("--backend", default="all",
                        help="all (those installed), or a comma list of mxnet, mxnet-static, "
                             "onnxruntime, opencv, openvino, openvino-bf16")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="model constructor override (e.g. num_layers=1)")
    parser.add_argument("--batch", type=int, default=32, help="throughput batch (default 32)")
    parser.add_argument("--precision", default="float32", metavar="P[,P]",
                        help="with --model: float32 (default) and/or int8 (the backbone "
                             "quantized by MXNet's oneDNN path, calibrated on noise crops: "
                             "timing only; on the mxnet backend)")
    parser.add_argument("--repeat", type=int, default=50, help="timed runs at batch 1")
    parser.add_argument("--warmup", type=int, default=10, help="untimed runs first")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--photo", help="photo for the detector timing (default: insightface's "
                                        "bundled t1.jpg, resized to 640x480)")
    parser.add_argument("--no-detector", action="store_true", help="skip the detector timing")
    parser.add_argument("--compare", nargs="+", metavar="NAME",
                        help="models to compare at batch 1, network vs post-processing")
    parser.add_argument("--loader", action="store_true", help="benchmark the data loader")
    parser.add_argument("--data", help="with --loader: a dataset split folder (default: a "
                                       "temporary synthetic set)")
    parser.add_argument("--format", default="jd106", help="with --data: its format")
    parser.add_argument("--photo-size", type=int, default=256,
                        help="with --loader and no --data: synthetic photo side (default 256; "
                             "real datasets have larger photos, where the crop cache pays)")
    parser.add_argument("--workers", type=int, default=2, help="with --loader: worker processes")
    parser.add_argument("--loader-batches", type=int, default=20,
                        help="with --loader: batches of 32 per timed epoch")
    parser.add_argument("--pipeline", metavar="MODEL_DIR",
                        help="an exported model behind the Predictor on a 640x480 photo: the "
                             "whole call and its parts")
    parser.add_argument("--detector", default="default", choices=DETECTOR_NAMES,
                        help="the detector timed, and behind --pipeline and --video: "
                             + DETECTOR_HELP)
    parser.add_argument("--refine", type=int, default=0, metavar="N",
                        help="with --pipeline: the Predictor's re-alignment passes (default 0)")
    parser.add_argument("--min-face", type=int, metavar="PIXELS",
                        help="with --pipeline and --detector mtcnn: the smallest face "
                             "(default: the Predictor's)")
    parser.add_argument("--video", metavar="MODEL_DIR",
                        help="an exported five-point model: per-frame detection vs tracking vs "
                             "tracking + smoothing on trajectory videos of --data's faces")
    parser.add_argument("--detect-every", type=int, default=30,
                        help="with --video: the tracker's detector interval (default 30)")
    parser.add_argument("--plot", help="with --video: plot one landmark's trajectory here")
    parser.add_argument("--flip", action="store_true",
                        help="with --video: flip test-time augmentation in every mode")
    parser.add_argument("--passes", type=int, default=3,
                        help="with --video: time each mode this many times over each video and "
                             "report the fastest pass, the least disturbed by other work on the "
                             "machine (default 3)")
    parser.add_argument("--real-photo", metavar="PATH",
                        help="with --video: also move this photo's largest face (no ground "
                             "truth: jitter and distance from per-frame detection); default "
                             "insightface's t1.jpg when installed, 'none' to skip")
    parser.add_argument("--json", help="write the rows to this JSON file")
    args = parser.parse_args(argv)
    if not (args.model or args.compare or args.loader or args.video or args.pipeline):
        parser.error("give --model NAME, --compare NAME..., --loader, --pipeline DIR and/or "
                     "--video DIR")
    if args.video and not args.data:
        parser.error("--video needs --data: a labelled split whose faces it moves")
    rows = ((_models(args) if args.model else []) + (_compare(args) if args.compare else [])
            + (_loader(args) if args.loader else [])
            + (_pipeline(args) if args.pipeline else []) + (_video(args) if args.video else []))
    if args.json:
        from lotr_gluon.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    run_main(main)
