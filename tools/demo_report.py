"""Summarise a demo run: its numbers, where every output is, and the mean-shape bar.

Prints PASS or FAIL: is the model's validation NME (flip TTA) at least --factor times better
than predicting the training mean shape for every face? With --require a FAIL exits 1.

Example:
  python tools/demo_report.py runs/demo --factor 3
"""
import argparse

from lotr_gluon.cli import run_main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="the demo run folder")
    parser.add_argument("--factor", type=float, default=3.0,
                        help="how many times the mean-shape NME must be beaten (default 3)")
    parser.add_argument("--require", action="store_true", help="exit 1 when the bar is missed")
    parser.add_argument("--also", nargs="*", default=[], metavar="FOLDER",
                        help="further evaluations of the model (tools/eval.py --out FOLDER, "
                             "e.g. with --align-source detector), one line each")
    args = parser.parse_args(argv)

    from lotr_gluon.demo_report import summarize_run

    text, passed = summarize_run(args.run_dir, args.factor, args.also)
    print(text)
    return 1 if args.require and not passed else 0


if __name__ == "__main__":
    run_main(main)
