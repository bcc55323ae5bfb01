"""Learning curves of one or more runs: training loss and validation NME against iterations,
each with its mean-shape baseline (the training mean shape predicted for every face) as a
dashed line. A run whose curves stay above those lines has not learned to read the image.

Examples:
  python tools/plot_curves.py runs/demo --out runs/demo/curves.png
  python tools/plot_curves.py runs/demo runs/lotr_m_cpu --label demo --label "paper recipe" \\
      --out docs/learning_curve.png
  python tools/plot_curves.py runs/scratch runs/finetune --label "from scratch" \\
      --label "pretrained" --reference "linear floor=0.96" --out docs/finetune_curves.png
"""
import argparse
import os

from lotr_gluon.cli import run_main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders (with log.jsonl) or log files")
    parser.add_argument("--label", action="append", default=[],
                        help="legend label per run, in order (default: the folder names)")
    parser.add_argument("--title", help="figure title")
    parser.add_argument("--reference", action="append", default=[], metavar="NAME=NME",
                        help="a validation NME in %% to draw across the NME panel, e.g. "
                             "\"linear floor=0.96\" (tools/eval.py --linear-floor prints it)")
    parser.add_argument("--out", default="curves.png", help="output image (PNG, PDF, SVG)")
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.runs):
        parser.error(f"{len(args.label)} --label for {len(args.runs)} runs")
    references = {}
    for item in args.reference:
        name, _, value = item.rpartition("=")
        try:
            references[name.strip() or "reference"] = float(value)
        except ValueError:
            parser.error(f"--reference {item!r}: expected NAME=NME, e.g. \"linear floor=0.96\"")
    logs = [os.path.join(r, "log.jsonl") if os.path.isdir(r) else r for r in args.runs]
    for log in logs:
        if not os.path.isfile(log):
            raise FileNotFoundError(f"{log}: no training log (a run folder of tools/train.py "
                                    f"holds log.jsonl)")

    from lotr_gluon.viz import plot_training_curves

    plot_training_curves(logs, args.out, title=args.title, labels=args.label or None,
                         references=references)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_main(main)
