"""Pack a dataset's aligned faces into MXNet RecordIO (SPLIT.rec + SPLIT.idx + SPLIT.json).

Each face is aligned once (five points, or the box with --align bbox) into a canvas twice the
crop size, JPEG-encoded, and stored with its landmarks in the record header. With
--align-source detector the five points and box are the detector's, from DATA/detections/
SPLIT.jsonl (tools/detect_faces.py), and travel in the pack; faces it missed keep the ground
truth's. Train from the pack with the format SCHEMA_rec (jd106_rec for jd106 and lapa), e.g.:

  python tools/pack_rec.py --data data/synth --format jd106 --out data/synth_rec
  python tools/train.py --config experiments/lotr_m.yaml \\
      --set data.root=data/synth_rec --set data.format=jd106_rec

Reading one sequential file scales better than many photos (network file systems, object
stores), and each record is already aligned. Augmentation still runs per epoch.
"""
import argparse
import os

from lotr_gluon.cli import run_main
from lotr_gluon.data.align import DEFAULT_FACE_FRACTION
from lotr_gluon.data.data_config import CHOICES, DataConfig
from lotr_gluon.errors import UserError
from lotr_gluon.runtime import configure_runtime

configure_runtime()  # MXNet's OpenMP threads, before anything imports mxnet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset root (holding the splits)")
    parser.add_argument("--format", default="jd106", help="source format: jd106, lapa, 300w, wflw")
    parser.add_argument("--out", required=True, help="output folder for SPLIT.rec/.idx/.json")
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--crop-size", type=int, default=192, help="the model's input size")
    parser.add_argument("--align", default="five_point", choices=CHOICES["align"])
    parser.add_argument("--face-fraction", type=float, default=DEFAULT_FACE_FRACTION,
                        help="the face's share of the crop, as the config's "
                             f"data.face_fraction (default {DEFAULT_FACE_FRACTION})")
    parser.add_argument("--align-source", default="ground_truth",
                        choices=CHOICES["align_source"],
                        help="align from the annotation's five points, or the detector's "
                             "(needs tools/detect_faces.py run first)")
    parser.add_argument("--detections", help="folder of SPLIT.jsonl (default DATA/detections)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    args = parser.parse_args(argv)

    from lotr_gluon.data.dataset import open_dataset
    from lotr_gluon.data.formats import FORMATS, read_image_file
    from lotr_gluon.data.recordio import pack_split

    sources = sorted(k for k, v in FORMATS.items() if not v.packed and v.schema is not None)
    if args.format not in sources:
        raise UserError(f"--format {args.format}: expected one of {sources} (packs hold the "
                         f"built-in markups; train a COCO file from the file itself)")
    schema_name = FORMATS[args.format].schema
    data = DataConfig(format=args.format, face_fraction=args.face_fraction, align=args.align,
                      align_source=args.align_source, detections=args.detections)
    for split in args.splits:
        # The same reading, checks and alignment as training: every face is kept (a missed
        # one with its ground-truth alignment); training may skip those (data.on_miss).
        dataset = open_dataset(os.path.join(args.data, split), data, args.crop_size)
        count = pack_split(dataset.samples, dataset.cropper, os.path.join(args.out, split),
                           schema_name, read_image_file, args.quality)
        print(f"{split}: packed {count} faces into {os.path.join(args.out, split)}.rec")
    packed = next(k for k, v in FORMATS.items() if v.packed and v.schema == schema_name)
    print(f"train from it with --set data.root={args.out} --set data.format={packed}")
    return 0


if __name__ == "__main__":
    run_main(main)
