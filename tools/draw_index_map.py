"""Draw the JD-106 landmark index map on the canonical synthetic face (docs/jd106_index.png).

Example:
  python tools/draw_index_map.py --out docs/jd106_index.png
"""
import argparse

from lotr_gluon.cli import run_main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="jd106_index.png")
    parser.add_argument("--size", type=int, default=900, help="image side in pixels")
    args = parser.parse_args(argv)

    import cv2
    import numpy as np

    from lotr_gluon.data.landmarks import JD106
    from lotr_gluon.data.synthetic import canonical_face
    from lotr_gluon.viz import save_image

    points, _ = canonical_face()
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = 0.8 * args.size / (hi - lo).max()
    pixels = (points - (lo + hi) / 2) * scale + args.size / 2
    canvas = np.full((args.size, args.size, 3), 255, np.uint8)
    for indices, closed in JD106.polylines:
        line = np.round(pixels[list(indices)]).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [line], closed, (200, 200, 200), 1, cv2.LINE_AA)
    for i, (x, y) in enumerate(pixels):
        cv2.circle(canvas, (int(round(x)), int(round(y))), 3, (0, 0, 220), -1, cv2.LINE_AA)
        cv2.putText(canvas, str(i), (int(round(x)) + 4, int(round(y)) - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.36, (120, 40, 0), 1, cv2.LINE_AA)
    save_image(args.out, canvas)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    run_main(main)
