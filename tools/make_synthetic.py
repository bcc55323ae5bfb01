"""Write procedurally rendered faces with 106 JD-landmark points in the JD-landmark layout.

OUT/{train,val,test}/picture/NAME.jpg, landmark/NAME.jpg.txt and rect/NAME.jpg.rect, split
80/10/10. The same --seed gives the same bytes, whatever --workers.

Example:
  python tools/make_synthetic.py --out data/synth --num 2000 --seed 0
"""
import argparse

from lotr_gluon.cli import run_main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--num", type=int, default=2000, help="number of images (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (256)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes (default: one per core)")
    args = parser.parse_args(argv)

    from lotr_gluon.data.synthetic import write_synthetic_dataset

    counts = write_synthetic_dataset(args.out, args.num, args.seed, args.size, args.workers)
    print(f"wrote {sum(counts.values())} faces to {args.out}: " +
          ", ".join(f"{name} {n}" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    run_main(main)
