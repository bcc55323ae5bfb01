"""Reproduce the paper's tables: run (or resume) every experiment a suite needs, then write
REPORT.md with our number beside the paper's for every cell, the orderings that hold, CED
plots and training curves.

Suites: table2 (LOTR-M/M+/R+, flip TTA), table3 (LOTR and CNN+FFN: AUC, size, latency),
table4 (the loss ablation), layers (Figure 3: 1..6 encoder/decoder layers), all.
Budgets (experiments/budgets/): full = each experiment's YAML as is (the paper's recipe:
ImageNet backbones from gluoncv's model store, GPUs and JD-landmark), mini = the MobileNetV2
models shrunk to minutes on a CPU, from random weights. --backbone-weights overrides every
run's start. Runs live in OUT/BUDGET/NAME; a finished run is never retrained, a partial one is
resumed.

Examples:
  python tools/reproduce.py --suite all --data data/synth --dry-run
  python tools/reproduce.py --suite table4 --budget mini --data data/synth --dry-run --measure
  python tools/reproduce.py --suite table4 --budget mini --data data/synth
  python tools/reproduce.py --suite table2 table3 table4 --budget mini --data data/synth
  python tools/reproduce.py --suite table2 --data /data/jd --gpus 0
  MXNET_HOME=/data/mxnet python tools/reproduce.py --suite table3 --data /data/jd --gpus 0
  python tools/reproduce.py --suite table2 --data /data/jd --gpus 0 --backbone-weights none
"""
import argparse
import os

from lotr_gluon.cli import run_main
from lotr_gluon.runtime import configure_runtime

configure_runtime()  # MXNet's OpenMP threads, before anything imports mxnet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", required=True, nargs="+",
                        choices=["table2", "table3", "table4", "layers", "all"],
                        help="one or more suites, or all")
    parser.add_argument("--data", required=True,
                        help="dataset root with train/, val/, test/ (JD layout)")
    parser.add_argument("--budget", default="full", choices=["full", "mini"])
    parser.add_argument("--out", default="runs/reproduce", help="where runs and REPORT.md go")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the runs and their configs (instant); trains nothing")
    parser.add_argument("--measure", action="store_true",
                        help="with --dry-run: then time a training step per model (in a "
                             "child process) and estimate device hours")
    parser.add_argument("--gpus", default="", help="GPU ids for training (default: CPU)")
    parser.add_argument("--backbone-weights", default=None, metavar="imagenet|none|PATH",
                        help="every run's model.backbone_weights (default: the experiment "
                             "files' imagenet, the mini budget's none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data):
        raise FileNotFoundError(f"--data {args.data}: no such folder; pass the dataset folder "
                                f"(train/, val/, test/ in the JD layout), or make a synthetic "
                                f"one with tools/make_synthetic.py --out data/synth --num 2000")

    from lotr_gluon.engine.trainer import parse_devices
    from lotr_gluon.reproduce.plan import SUITES, make_plan
    from lotr_gluon.reproduce.report import write_report
    from lotr_gluon.reproduce.runner import dry_run, execute

    suites = list(SUITES) if "all" in args.suite else list(dict.fromkeys(args.suite))
    runs = make_plan(suites, args.data, args.out, args.budget, args.backbone_weights)
    ctx = parse_devices(args.gpus)
    if args.dry_run:
        print(f"{len(runs)} runs for {', '.join(suites)} ({args.budget} budget):")
        dry_run(runs, ctx[0], measure=args.measure)
        return 0
    final = execute(runs, ctx, progress=not args.no_progress)
    report = write_report(runs, suites, os.path.join(args.out, args.budget, "REPORT.md"),
                          args.data, args.budget)
    counts = {state: list(final.values()).count(state) for state in set(final.values())}
    print(f"wrote {report} ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})")
    return 0


if __name__ == "__main__":
    run_main(main)
