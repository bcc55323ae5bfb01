"""What this install can do, on one screen: MXNet and its build (CUDA, cuDNN, NCCL, oneDNN),
the GPUs visible and whether the installed wheel has kernels for each, ONNX Runtime and its
providers, the face detectors available offline, and the CPU threads MXNet will use.

Exit code 0 when everything asked for (--gpus, --detector) is usable, 1 otherwise, with one
line per problem saying what to do. Nothing runs on a GPU, so it is safe on any machine.

Examples:
  python tools/doctor.py
  python tools/doctor.py --gpus 0,1
  python tools/doctor.py --gpus all      # the Docker image's health check
  python tools/doctor.py --detector retinaface --detector-model ~/models/buffalo_l
"""
import argparse
import sys

from lotr_gluon.cli import run_main
from lotr_gluon.data.detector_names import DETECTOR_NAMES


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", default="",
                        help="GPU ids you intend to use, e.g. 0,1; 'all': every visible GPU")
    parser.add_argument("--detector", choices=DETECTOR_NAMES,
                        help="the face detector you intend to use")
    parser.add_argument("--detector-model", help="folder or .onnx of the retinaface detector")
    args = parser.parse_args(argv)
    from lotr_gluon.doctor import diagnose
    from lotr_gluon.gpu_support import visible_gpus

    try:
        gpus = ([gpu.index for gpu in visible_gpus()] if args.gpus == "all"
                else [int(g) for g in args.gpus.split(",") if g.strip()])
    except ValueError:
        parser.error(f"--gpus expects comma-separated GPU ids like 0,1 or all; got {args.gpus!r}")

    report = diagnose(gpus, args.detector, args.detector_model)
    print("\n".join(report.lines))
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    if not report.problems:
        print("ok: everything asked for is usable")
    return 1 if report.problems else 0


if __name__ == "__main__":
    run_main(main)
