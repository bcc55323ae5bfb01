"""Evaluate a trained model on a dataset split, without and with flip TTA (the paper's Table 2).

Writes metrics.json (nme, auc, failure_rate as fractions for no_flip and flip, and
mean_shape_nme, with --linear-floor also linear_floor_nme, when the training split is
available), per_image_nme.csv and ced.png into
--out (default: the run folder for --split val, RUN/SPLIT for another split, ./eval for an
exported model; an earlier report there is replaced, and the tool says so). --compare
overlays other runs' CED curves.

NME is scored in the photo (the JD rule): predictions go back through each face's alignment
and are normalised by the photo's landmark box; the crop-frame figure is kept as an extra.
Faces are aligned as the run was trained (data.align_source) unless --align-source says
otherwise; detector alignment reads DATA/detections/SPLIT.jsonl from tools/detect_faces.py.
An exported model (--model) runs on the backend a deployment uses: --backend, by default the
Predictor's (auto), so the score is that of what serves.

Examples:
  python tools/eval.py --checkpoint runs/demo                   # the run's val split
  python tools/eval.py --checkpoint runs/lotr_m --split test
  python tools/eval.py --model runs/demo/export --data data/synth/val
  python tools/eval.py --model runs/demo/export --data data/synth/val --backend mxnet
  python tools/eval.py --checkpoint runs/a --compare runs/b runs/c --out runs/compare
"""
import argparse
import os

from lotr_gluon.runtime import configure_runtime

# Before anything imports mxnet: OpenMP threads for the CPUs this process may use, and the
# engine inference runs on, as tools/predict.py (lotr_gluon/runtime.py).
configure_runtime(engine="NaiveEngine")

from lotr_gluon.cli import run_main  # noqa: E402
from lotr_gluon.data.data_config import CHOICES, SPLITS  # noqa: E402
from lotr_gluon.deploy.backends import AUTO, BACKENDS, DEFAULT_BACKEND  # noqa: E402


def default_out(checkpoint, split: str) -> str:
    """A run folder's own evaluation (val) goes into it, another split's into RUN/SPLIT so
    that it does not replace the validation's metrics; an exported model's into ./eval."""
    if checkpoint and os.path.isdir(checkpoint):
        return checkpoint if split == "val" else os.path.join(checkpoint, split)
    return "eval"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="run folder (its best.ckpt) or .ckpt file")
    source.add_argument("--model", help="exported model folder (tools/export.py)")
    parser.add_argument("--split", default="val", choices=SPLITS,
                        help="split of the run's config (default val)")
    parser.add_argument("--data", help="evaluate this dataset folder instead of a config split")
    parser.add_argument("--format", default=None, help="dataset format (default: the run's)")
    parser.add_argument("--align-source", choices=CHOICES["align_source"],
                        help="align faces from the annotation's five points or the "
                             "detector's (default: the one the model was trained with)")
    parser.add_argument("--detections", help="folder of SPLIT.jsonl (default: detections/ "
                                             "beside the split)")
    parser.add_argument("--linear-floor", action="store_true",
                        help="also fit and score a ridge regression on HOG features of the "
                             "training crops (the linear floor; ~10 s for 1600 faces); with "
                             "--checkpoint and one of its splits, not --model or --data")
    parser.add_argument("--out", help="output folder (default: the run folder for val, "
                        "RUN/SPLIT for another split, ./eval for --model)")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=(AUTO,) + BACKENDS,
                        help="with --model: the inference backend (default auto, the "
                             "Predictor's: the fastest measured that runs the export, see "
                             "docs/deployment.md)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--compare", nargs="*", default=[], metavar="RUN",
                        help="run folders (with per_image_nme.csv) to overlay in ced.png")
    args = parser.parse_args(argv)
    if args.checkpoint and args.backend != DEFAULT_BACKEND:
        parser.error("--backend is for an exported model (--model); a checkpoint runs on "
                     "its Gluon network")

    from lotr_gluon.evaluate import run_evaluation

    out = args.out or default_out(args.checkpoint, args.split)
    replaced = os.path.isfile(os.path.join(out, "metrics.json"))
    report = run_evaluation(checkpoint=args.checkpoint, model_dir=args.model, split=args.split,
                            data=args.data, fmt=args.format, out_dir=out,
                            batch_size=args.batch_size, compare=args.compare,
                            align_source=args.align_source, detections=args.detections,
                            linear_floor=args.linear_floor, backend=args.backend)
    print(f"wrote {out}/metrics.json, per_image_nme.csv, ced.png ({report['num_images']} images"
          f"{'; replaced the earlier ones' if replaced else ''})")
    return 0


if __name__ == "__main__":
    run_main(main)
