"""Export a model to MXNet NAME-symbol.json + NAME-0000.params with a NAME.json sidecar.

The exported graph takes float32 RGB 0..255 NCHW crops and returns (B, N, 2) crop pixels;
load it with mxnet.gluon.SymbolBlock.imports(symbol, ['data'], params). The sidecar holds the
landmark schema, flip permutation and alignment template that tools/predict.py needs.

Examples:
  python tools/export.py --checkpoint runs/demo --out runs/demo/export
  python tools/export.py --model lotr_m --out /tmp/x     # random weights, for smoke tests
"""
import argparse
import sys

from lotr_gluon.cli import parse_overrides, run_main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a run folder (its best.ckpt) or a .ckpt file")
    source.add_argument("--model", help="a get_model() name: random weights, with a warning")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="with --model: constructor override (e.g. num_points=68)")
    args = parser.parse_args(argv)

    from lotr_gluon.deploy.export import export_symbol

    if args.checkpoint:
        from lotr_gluon.engine.builders import model_from_checkpoint, schema_of

        net, cfg, epochs = model_from_checkpoint(args.checkpoint)
        name = cfg.model.name
        paths = export_symbol(net, args.out, name, schema_of(cfg), cfg.data.face_fraction)
        print(f"exported {name} trained {epochs} epochs")
    else:
        from lotr_gluon import get_model

        net = get_model(args.model, **parse_overrides(args.set))
        print(f"warning: exporting {args.model} with random weights (no checkpoint given): "
              "fine for smoke tests, useless for landmarks", file=sys.stderr)
        paths = export_symbol(net, args.out, args.model, trained=False)
    for kind, path in paths.items():
        print(f"{kind:>8}: {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
