"""Print Params, Size, FLOPs and output shape of registered models beside the paper's Table 3.

Params counts every parameter array, BatchNorm running statistics included; Size is the
trainable parameters as float32 MiB; FLOPs are 2 x multiply-accumulates of one forward pass.

Examples:
  python tools/summary.py                      # all models, as a table
  python tools/summary.py --model lotr_m+ --json
  python tools/summary.py --model lotr_m --set num_points=68 --set num_layers=1
"""
import argparse
import json

from lotr_gluon.cli import parse_overrides, run_main
from lotr_gluon.errors import UserError
from lotr_gluon.runtime import configure_runtime

configure_runtime()  # MXNet's OpenMP threads, before anything imports mxnet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="all",
                        help="a get_model() name (lotr_gluon.list_models(); an unknown name "
                             "lists them) or 'all' (default: every one)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="model constructor override, repeatable (e.g. num_points=68)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per model instead of a table")
    args = parser.parse_args(argv)

    from lotr_gluon import get_model, list_models
    from lotr_gluon.complexity import summarize
    from lotr_gluon.paper_results import load_paper_results

    if args.model != "all" and args.model not in list_models():
        raise UserError(f"unknown model {args.model!r}; expected 'all' or one of {list_models()}")
    names = list_models() if args.model == "all" else [args.model]
    overrides = parse_overrides(args.set)
    paper = load_paper_results()["table3"]
    if not args.json:
        print(f"{'model':<14} {'Params (M)':>10} {'paper':>6} {'Size (MB)':>10} {'paper':>6} "
              f"{'GFLOPs':>7}  output")
    for name in names:
        summary = summarize(get_model(name, **overrides), name)
        ref = paper.get(name, {}) if not overrides else {}
        if args.json:
            row = json.loads(summary.to_json())
            row["paper"] = {k: ref[k] for k in ("params_m", "size_mb") if k in ref}
            print(json.dumps(row))
        else:
            print(f"{name:<14} {summary.params_m:>10.2f} {ref.get('params_m', '-'):>6} "
                  f"{summary.size_mb:>10.2f} {ref.get('size_mb', '-'):>6} "
                  f"{summary.gflops:>7.3f}  {summary.output_shape}")
    return 0


if __name__ == "__main__":
    run_main(main)
