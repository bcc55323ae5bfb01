"""Run the face detector once over each split of a dataset and keep, per image, the detection
of the annotated face (its box, five points and score), as the paper's protocol aligns every
image from the detector's five points (Section 4.1).

Each split gets OUT/SPLIT.jsonl (one JSON line per image, keyed by its path in the split
folder: matched or not, and why) and OUT/SPLIT.unmatched.txt. A detection belongs to the
annotated face when its five points lie within 0.25 box sizes of the ground truth's five
points. Interrupted runs resume: images already in SPLIT.jsonl are not detected again.
The default detector is insightface's RetinaFace when its model is on disk, else the offline
RetinaFace-MobileNet0.25 (else MTCNN), and it never downloads; --detector retinaface fetches
insightface's buffalo_l pack when none is on disk (on a machine with internet). Training and
evaluation then align from these detections with --set data.align_source=detector (the paper's
experiment files do).

Examples:
  python tools/detect_faces.py --data data/synth
  python tools/detect_faces.py --data /data/jd --detector retinaface \\
      --detector-model ~/models/buffalo_l --splits train val test
"""
import argparse
import os

from lotr_gluon.cli import run_main
from lotr_gluon.data.detector_names import DETECTOR_HELP
from lotr_gluon.errors import UserError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="dataset root with one folder per split")
    parser.add_argument("--format", default="jd106", help="dataset format (default jd106)")
    parser.add_argument("--schema", help="landmark schema file for --format coco (default: "
                                         "the file's category)")
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--detector", default="default",
                        help=DETECTOR_HELP)
    parser.add_argument("--detector-model",
                        help="retinaface: folder with det_10g.onnx, or the .onnx file "
                             "(default: a pack already in ~/.insightface/models)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1),
                        help="detector processes (default: up to 4; 0 = this process)")
    parser.add_argument("--out", help="output folder (default DATA/detections)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    from lotr_gluon.data.detections import detect_split, detections_file, records_root
    from lotr_gluon.data.detector import LazyDetector, get_detector
    from lotr_gluon.data.data_config import DataConfig
    from lotr_gluon.data.dataset_schema import dataset_schema
    from lotr_gluon.data.formats import FORMATS, scan_dataset
    from lotr_gluon.fileio import atomic_write_text

    if args.format not in FORMATS or FORMATS[args.format].packed:
        raise UserError(f"--format {args.format}: expected a source format "
                         f"{sorted(k for k, v in FORMATS.items() if not v.packed)} (packs carry "
                         f"detections from tools/pack_rec.py --align-source detector)")
    splits = [s for s in args.splits
              if any(os.path.exists(os.path.join(args.data, s + e)) for e in ("", ".json"))]
    if not splits:
        raise FileNotFoundError(f"--data {args.data}: none of {args.splits} is there (split "
                                f"folders, or WFLW's annotation files)")
    out = args.out or os.path.join(args.data, "detections")
    detector = get_detector(args.detector, model_path=args.detector_model)  # fails here, once
    name = detector.description
    print(f"detector: {name}")
    if args.workers > 0:  # each worker process builds its own
        detector = LazyDetector(args.detector, args.detector_model)
    reader = FORMATS[args.format].image_reader()
    for split in splits:
        path = os.path.join(args.data, split)
        schema = dataset_schema(DataConfig(format=args.format, schema=args.schema), path)
        jsonl = detections_file(path, out)  # where training will look for them
        samples = scan_dataset(path, args.format, schema=schema)[0]
        records = detect_split(samples, reader, detector, schema, jsonl, not args.no_progress,
                               root=records_root(path), workers=args.workers, name=name)
        missed = [r for r in records.values() if not r["matched"]]
        unmatched = jsonl[:-len(".jsonl")] + ".unmatched.txt"
        atomic_write_text(unmatched, "".join(f"{r['image']}\t{r['reason']}\n" for r in missed))
        print(f"{split}: {len(records)} images, {len(records) - len(missed)} matched, "
              f"{len(missed)} without a matching detection ({unmatched})")
    return 0


if __name__ == "__main__":
    run_main(main)
