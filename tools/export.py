"""Export a model to MXNet NAME-symbol.json + NAME-0000.params with a NAME.json sidecar.

The exported graph takes float32 RGB 0..255 NCHW crops and returns (B, N, 2) crop pixels;
load it with mxnet.gluon.SymbolBlock.imports(symbol, ['data'], params).

Examples:
  python tools/export.py --model lotr_m --out runs/export        # random weights, smoke test
"""
import argparse
import sys

from lotr_gluon.cli import parse_overrides, run_main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a get_model() name, e.g. lotr_m")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="model constructor override, repeatable (e.g. num_points=68)")
    args = parser.parse_args(argv)

    from lotr_gluon import get_model
    from lotr_gluon.deploy.export import export_symbol

    net = get_model(args.model, **parse_overrides(args.set))
    print(f"warning: exporting {args.model} with random weights (no checkpoint given): "
          "fine for smoke tests, useless for landmarks", file=sys.stderr)
    for kind, path in export_symbol(net, args.out, args.model).items():
        print(f"{kind:>8}: {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
