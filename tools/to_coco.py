"""Write a dataset of another format (JD-106, LaPa, 300W, WFLW) as a COCO keypoints file.

The faces keep their photos where they are (named relative to the file's folder); --points
keeps some of the markup's points only, as the markup a schema file describes (its names go
into the file's category). A COCO file trains with --set data.format=coco
(docs/custom-landmarks.md).

Examples:
  python tools/to_coco.py data/synth/train --format jd106 --out data/synth_coco/train.json
  python tools/to_coco.py data/synth/train --format jd106 --out data/face21/train.json \\
      --schema face21.yaml --points 0,16,32,33,37,42,46,51,54,58,62,66,70,74,75,79,83,84,87,90,93
"""
import argparse

from lotr_gluon.cli import run_main


def main(argv=None) -> int:
    from lotr_gluon.data.formats import FORMATS

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="the split: " + "; ".join(
        f"{k}: {v.root_is}" for k, v in FORMATS.items() if v.schema and not v.packed))
    parser.add_argument("--format", default="jd106",
                        choices=sorted(k for k, v in FORMATS.items() if v.schema and not v.packed))
    parser.add_argument("--out", required=True, help="the COCO keypoints .json to write")
    parser.add_argument("--schema", help="schema file of the written markup (default: the "
                                         "format's own); needed with --points")
    parser.add_argument("--points", help="comma-separated indices of the points to keep, in "
                                         "the format's markup (default: all)")
    args = parser.parse_args(argv)

    from lotr_gluon.data.coco_convert import convert
    from lotr_gluon.data.landmarks import read_schema_file
    from lotr_gluon.errors import UserError

    try:
        points = [int(i) for i in args.points.split(",")] if args.points else None
    except ValueError:
        raise UserError(f"--points {args.points!r}: expected indices like 0,16,32") from None
    schema = read_schema_file(args.schema) if args.schema else None
    count, problems = convert(args.root, args.format, args.out, schema, points)
    for problem in problems:
        print(f"skipped {problem}")
    print(f"{args.out}: {count} faces ({len(problems)} unusable in {args.root})")
    return 0 if count else 1


if __name__ == "__main__":
    run_main(main)
