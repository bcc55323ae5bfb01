"""Draw where LOTR's landmark queries look: the decoder's cross-attention on the aligned face.

For each chosen landmark, one panel shows its attention weights over the Transformer's
feature map (one cell per token: 6x6 for LOTR-M at 192 px, 24x24 for the "+" models), heads
averaged, over the aligned crop, with the predicted point marked (+). --per-head adds one
column per head. Default points: the schema's five alignment points (eyes, nose tip, mouth
corners). The total variation distance between the first eye map and the first mouth map is
printed (0: identical, 1: disjoint).

--model takes an exported folder (tools/export.py) or a run folder / .ckpt (exported on the
fly). The photo's best face is detected and aligned as the Predictor does; --aligned skips
that for an image that is already an aligned crop.

Examples:
  python tools/attention.py --model runs/demo/export photo.jpg --out attention.png
  python tools/attention.py --model runs/demo data/synth/test/picture/synth_001999.jpg \\
      --points 74 84 0 16 --per-head
"""
import argparse
import os
import tempfile

from lotr_gluon.cli import run_main
from lotr_gluon.errors import UserError
from lotr_gluon.runtime import configure_runtime

configure_runtime()  # MXNet's OpenMP threads, before anything imports mxnet


def _exported(path: str, scratch: str):
    from lotr_gluon.deploy.model_files import find_exported

    if os.path.isdir(path) and not any(f.endswith(".ckpt") for f in os.listdir(path)):
        return find_exported(path)
    from lotr_gluon.deploy.export import export_checkpoint

    export_checkpoint(path, scratch)
    return find_exported(scratch)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", help="a photo with a face (or an aligned crop with --aligned)")
    parser.add_argument("--model", required=True, help="exported folder, run folder or .ckpt")
    parser.add_argument("--points", type=int, nargs="+",
                        help="landmark indices (default: the five alignment points)")
    parser.add_argument("--layer", type=int, default=-1, help="decoder layer (default: last)")
    parser.add_argument("--per-head", action="store_true", help="a column per attention head")
    parser.add_argument("--aligned", action="store_true",
                        help="the image is already an aligned crop: resize, do not detect")
    parser.add_argument("--out", default="attention.png", help="output PNG")
    args = parser.parse_args(argv)

    import cv2

    from lotr_gluon.attention import cross_attention, map_distance, plot_attention
    from lotr_gluon.data.image_file import read_image_file
    from lotr_gluon.data.transforms import to_network_input

    image = read_image_file(args.image)
    with tempfile.TemporaryDirectory(prefix="lotr-attention-") as scratch:
        model = _exported(args.model, scratch)
        size = model.sidecar.input_size
        if args.aligned:
            crop = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            chw = to_network_input(crop)
        else:
            from lotr_gluon.deploy.predictor import Predictor

            predictor = Predictor(os.path.dirname(model.symbol))
            faces = predictor.detector(image)
            if not faces:
                raise UserError(f"{args.image}: no face found (use --aligned for a crop)")
            chw, _ = predictor.crop(image, faces[0])
        landmarks, attention = cross_attention(model, chw[None], args.layer)
    schema = model.sidecar.landmark_schema
    five = [group[0] for group in schema.five_point_groups]
    names = dict(zip(five, ("left eye", "right eye", "nose tip", "left mouth", "right mouth")))
    points = args.points or five
    bad = [p for p in points if not 0 <= p < landmarks.shape[1]]
    if bad:
        raise UserError(f"--points {bad}: the model has {landmarks.shape[1]} landmarks")
    labels = [names.get(p, f"point {p}") for p in points]
    crop_rgb = chw.transpose(1, 2, 0)
    plot_attention(crop_rgb, landmarks[0], attention[0], points, labels, args.out,
                   args.per_head)
    side = attention.shape[-1]
    eye, mouth = five[0], five[3]
    distance = map_distance(attention[0, :, eye].mean(0), attention[0, :, mouth].mean(0))
    print(f"wrote {args.out}: {len(points)} landmarks, decoder layer {args.layer}, "
          f"{attention.shape[1]} heads over a {side}x{side} map; eye #{eye} vs mouth #{mouth} "
          f"attention distance {distance:.2f} (total variation, 0 same .. 1 disjoint)")
    return 0


if __name__ == "__main__":
    run_main(main)
