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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset root (holding the splits)")
    parser.add_argument("--format", default="jd106", help="source format: jd106, lapa, 300w, wflw")
    parser.add_argument("--out", required=True, help="output folder for SPLIT.rec/.idx/.json")
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--crop-size", type=int, default=192, help="the model's input size")
    parser.add_argument("--align", default="five_point", choices=["five_point", "bbox"])
    parser.add_argument("--align-source", default="ground_truth",
                        choices=["ground_truth", "detector"],
                        help="align from the annotation's five points, or the detector's "
                             "(needs tools/detect_faces.py run first)")
    parser.add_argument("--detections", help="folder of SPLIT.jsonl (default DATA/detections)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    args = parser.parse_args(argv)

    from lotr_gluon.data.align import DEFAULT_FACE_FRACTION
    from lotr_gluon.data.detections import align_by_detections
    from lotr_gluon.data.formats import FORMATS, read_image_file, scan_dataset
    from lotr_gluon.data.landmarks import get_schema
    from lotr_gluon.data.recordio import pack_split
    from lotr_gluon.data.samples import summarize_problems
    from lotr_gluon.data.transforms import FaceCropper

    if args.format not in FORMATS or FORMATS[args.format].packed:
        raise ValueError(f"--format {args.format}: expected a source format "
                         f"{sorted(k for k, v in FORMATS.items() if not v.packed)}")
    schema = get_schema(FORMATS[args.format].schema)
    cropper = FaceCropper(schema, args.crop_size, DEFAULT_FACE_FRACTION, align=args.align)
    for split in args.splits:
        path = os.path.join(args.data, split)
        samples, problems = scan_dataset(path, args.format)
        if problems:
            print(f"{path}: " + summarize_problems(problems, len(samples)))
        if not samples:
            raise ValueError(f"{path}: no usable samples to pack")
        if args.align_source == "detector":
            samples, alignment = align_by_detections(samples, path, args.detections)
            print(f"{path}: {alignment}")
        count = pack_split(samples, cropper, os.path.join(args.out, split), schema.name,
                           read_image_file, args.quality)
        print(f"{split}: packed {count} faces into {os.path.join(args.out, split)}.rec")
    packed = next(k for k, v in FORMATS.items() if v.packed and v.schema == schema.name)
    print(f"train from it with --set data.root={args.out} --set data.format={packed}")
    return 0


if __name__ == "__main__":
    run_main(main)
