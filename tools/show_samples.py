"""Draw a dataset's pipeline stage by stage for a few samples, into one PNG.

Columns: the raw photo with its landmarks; the face box and five alignment points (from the
detector, or from the ground truth with --detector gt); the aligned crop; augmented crops.

Example:
  python tools/show_samples.py data/synth/train --num 4 --out runs/samples.png
"""
import argparse

from lotr_gluon.cli import run_main
from lotr_gluon.runtime import configure_runtime

configure_runtime()  # MXNet's OpenMP threads, before anything imports mxnet

from lotr_gluon.data.detector_names import DETECTOR_HELP  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="dataset root (see tools/check_dataset.py)")
    parser.add_argument("--format", default="jd106")
    parser.add_argument("--num", type=int, default=4, help="samples (rows), default 4")
    parser.add_argument("--augmented", type=int, default=3, help="augmented crops per row")
    parser.add_argument("--detector", default="gt",
                        help="gt (five points from the landmarks), or a detector: "
                             + DETECTOR_HELP)
    parser.add_argument("--detector-model", default=None, help="model path for retinaface")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="samples.png")
    args = parser.parse_args(argv)

    from lotr_gluon.sample_figure import draw_pipeline

    rows = draw_pipeline(args.root, args.out, fmt=args.format, num=args.num,
                         augmented=args.augmented, detector=args.detector,
                         detector_model=args.detector_model, seed=args.seed)
    print(f"wrote {args.out} ({rows} samples)")
    return 0


if __name__ == "__main__":
    run_main(main)
