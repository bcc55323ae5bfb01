"""Export a model to MXNet NAME-symbol.json + NAME-0000.params with a NAME.json sidecar.

The exported graph takes float32 RGB 0..255 NCHW crops and returns (B, N, 2) crop pixels;
load it with mxnet.gluon.SymbolBlock.imports(symbol, ['data'], params). The sidecar holds the
landmark schema, flip permutation and alignment template that tools/predict.py needs.

With --onnx it also writes NAME.onnx (opset 13, dynamic batch, same contract) for the
onnxruntime backend; --flavor insightface adds NAME_insightface.onnx, which
insightface.model_zoo.get_model() loads as a landmark_2d_106 model: only for a 192 px run
trained with --set data.align=bbox, as insightface feeds a box-centred crop (any other model,
and --model's random weights, is refused with exit code 1).

Examples:
  python tools/export.py --checkpoint runs/demo --out runs/demo/export --onnx
  python tools/export.py --model lotr_m --out /tmp/x     # random weights, for smoke tests
  python tools/export.py --checkpoint runs/if --out /tmp/if --onnx --flavor insightface
"""
import argparse
import sys

from lotr_gluon.cli import parse_overrides, run_main
from lotr_gluon.deploy.sidecar import PRECISIONS
from lotr_gluon.runtime import configure_runtime

configure_runtime()  # MXNet's OpenMP threads, before anything imports mxnet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="a run folder (its best.ckpt) or a .ckpt file")
    source.add_argument("--model", help="a get_model() name: random weights, with a warning")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--onnx", action="store_true", help="also write NAME.onnx (opset 13)")
    parser.add_argument("--flavor", action="append", choices=["lotr", "insightface"],
                        help="ONNX flavor(s) with --onnx (default lotr; repeatable); "
                             "insightface needs a 192 px run trained with data.align: bbox")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS,
                        help="int8: the backbone quantized by MXNet's oneDNN path, calibrated "
                             "on 64 crops of the run's training split (needs --checkpoint and "
                             "its data; CPU only; no ONNX; docs/deployment.md)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="with --model: constructor override (e.g. num_points=68)")
    args = parser.parse_args(argv)
    if args.flavor and not args.onnx:
        parser.error("--flavor needs --onnx")
    if args.precision == "int8" and (args.onnx or not args.checkpoint):
        parser.error("--precision int8 needs --checkpoint (calibration crops from its training "
                     "split) and writes no ONNX")
    flavors = (["lotr"] + [f for f in args.flavor or () if f != "lotr"]) if args.onnx else []

    from lotr_gluon.deploy.export import export_checkpoint, export_symbol

    if args.checkpoint:
        paths, name, epochs = export_checkpoint(args.checkpoint, args.out, flavors,
                                                args.precision)
        print(f"exported {name} trained {epochs} epochs")
    else:
        from lotr_gluon import get_model

        net = get_model(args.model, **parse_overrides(args.set))
        print(f"warning: exporting {args.model} with random weights (no checkpoint given): "
              "fine for smoke tests, useless for landmarks", file=sys.stderr)
        paths = export_symbol(net, args.out, args.model, trained=False, onnx=flavors)
    for kind, path in paths.items():
        print(f"{kind:>16}: {path}")
    return 0


if __name__ == "__main__":
    run_main(main)
