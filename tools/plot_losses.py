"""Redraw the paper's Figure 2: Wing vs smooth-Wing loss and gradient, global and zoomed.

Example:
  python tools/plot_losses.py --out losses.png
"""
import argparse

from lotr_gluon.cli import run_main
from lotr_gluon.runtime import configure_runtime

configure_runtime()  # MXNet's OpenMP threads, before anything imports mxnet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="losses.png", help="output image (PNG, PDF, SVG)")
    parser.add_argument("--w", type=float, default=10.0, help="outer threshold (default 10)")
    parser.add_argument("--eps", type=float, default=2.0, help="log steepness (default 2)")
    parser.add_argument("--t", type=float, default=0.01,
                        help="smooth-Wing inner threshold (default 0.01)")
    args = parser.parse_args(argv)

    from functools import partial

    from lotr_gluon.losses import loss_and_gradient
    from lotr_gluon.viz import plot_figure2

    curves = {"Wing": partial(loss_and_gradient, "wing", w=args.w, eps=args.eps),
              "smooth-Wing": partial(loss_and_gradient, "smooth_wing", t=args.t, w=args.w,
                                     eps=args.eps)}
    plot_figure2(args.out, curves, w=args.w, eps=args.eps, t=args.t)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_main(main)
