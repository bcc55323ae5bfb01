"""Check a landmark dataset: list every unusable sample and count the usable ones.

Each image must read as training reads it (lotr_gluon/data/image_file.py: a truncated JPEG
or a PNG failing its CRC is damaged, and every pixel is decoded), have its landmark file with
the right number of finite points, and no point far outside the image.

Exit codes: 0 all usable (or, without --strict, at least one usable); 1 any unusable sample
with --strict, or none usable; 2 usage.

Examples:
  python tools/check_dataset.py data/synth --format jd106
  python tools/check_dataset.py WFLW/list_98pt_rect_attr_train.txt --format wflw --strict
  python tools/check_dataset.py faces/train.json --format coco --schema faces.yaml
"""
import argparse

from lotr_gluon.cli import run_main


def main(argv=None) -> int:
    from lotr_gluon.data.data_config import CHOICES
    from lotr_gluon.data.formats import FORMATS

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="; ".join(f"{k}: {v.root_is}" for k, v in FORMATS.items()))
    parser.add_argument("--format", default="jd106", choices=sorted(FORMATS))
    parser.add_argument("--schema", help="with --format coco: the landmark schema file "
                                         "(default: the file's category names the points)")
    parser.add_argument("--align", default="five_point", choices=CHOICES["align"],
                        help="how training will align the faces: five_point needs each "
                             "face's five alignment points labelled (default five_point)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 if any sample is unusable")
    args = parser.parse_args(argv)

    from lotr_gluon.data.data_config import DataConfig
    from lotr_gluon.data.dataset_schema import dataset_schema
    from lotr_gluon.data.formats import scan_dataset

    schema = dataset_schema(DataConfig(format=args.format, schema=args.schema), args.root)
    samples, problems = scan_dataset(args.root, args.format, decode=True, schema=schema,
                                     five_point_alignment=args.align == "five_point")
    for problem in problems:
        print(problem)
    print(f"{args.root}: {len(samples)} usable samples, {len(problems)} unusable")
    if not samples or (args.strict and problems):
        return 1
    return 0


if __name__ == "__main__":
    run_main(main)
