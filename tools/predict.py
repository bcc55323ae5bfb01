"""Predict facial landmarks on photos, folders, videos or a webcam with an exported model.

Faces are found by the detector (default: insightface's RetinaFace when its model is on disk,
else the offline RetinaFace-MobileNet0.25), aligned by their five points (or
cropped around the box for models trained with data.align=bbox), run through the model in
one batch per photo, and mapped back to the photo. Annotated images
(NAME_landmarks.jpg), videos (NAME_landmarks.mp4) and landmarks.json (or .csv) go to --out.

Nothing finished is lost: each photo's landmarks go to --out/landmarks.jsonl as soon as it is
done, and landmarks.json (or .csv) is written from that file at the end, with every photo the
folder holds. Ctrl-C or SIGTERM stops between two photos, says how far it got and writes
landmarks.json; the same command run again skips the photos already in --out and does the
rest (--overwrite starts afresh). A video file stopped halfway is done again; a webcam
stopped so ends, recorded.

Exit codes: 0 ok, 1 no input could be read, 2 usage, 130 (Ctrl-C) or 143 (SIGTERM) stopped
before the end. Missing, damaged (a truncated JPEG, a PNG failing its CRC) and undecodable
inputs are reported and skipped.

Examples:
  python tools/predict.py photo.jpg more_photos/ --model runs/demo/export --out runs/predict
  python tools/predict.py clip.mp4 --model runs/demo/export --flip
  python tools/predict.py --webcam 0 --model runs/demo/export
  python tools/predict.py clip.mp4 --model runs/lotr_m/export --track --detect-every 15
  python tools/predict.py face.png --model DIR --show-index    # the landmark index map
"""
import argparse
import os
import sys

from lotr_gluon.runtime import configure_runtime

# Before anything imports mxnet: OpenMP threads for the CPUs this process may use, and the
# synchronous engine inference runs on (lotr_gluon/runtime.py).
configure_runtime(engine="NaiveEngine")

from lotr_gluon.cli import EXIT_ERROR, run_main  # noqa: E402
from lotr_gluon.data.detector_names import DETECTOR_HELP  # noqa: E402
from lotr_gluon.data.mtcnn import MIN_FACE_SIZE  # noqa: E402
from lotr_gluon.deploy.backends import AUTO, BACKENDS, DEFAULT_BACKEND  # noqa: E402
from lotr_gluon.deploy.tracking import DEFAULT_BETA, DEFAULT_MIN_CUTOFF  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", help="image files, folders or video files")
    parser.add_argument("--model", required=True, help="exported model folder "
                                                       "(tools/export.py --out)")
    parser.add_argument("--out", default="runs/predict", help="output folder")
    parser.add_argument("--csv", action="store_true", help="landmarks.csv instead of .json")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh: forget the results already in --out (by default "
                             "the photos already there are skipped)")
    parser.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    parser.add_argument("--show-index", action="store_true", help="draw point indices")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=(AUTO,) + BACKENDS,
                        help="auto (default): the fastest measured that runs the export: "
                             "openvino-bf16 on a CPU with bf16 instructions, else onnxruntime, "
                             "where the export has NAME.onnx (tools/export.py --onnx); else "
                             "mxnet (the oneDNN-fused static graph)")
    parser.add_argument("--detector", default="default",
                        help=DETECTOR_HELP)
    parser.add_argument("--detector-model", help="retinaface: folder with det_10g.onnx")
    parser.add_argument("--min-face", type=int, metavar="PIXELS",
                        help=f"with --detector mtcnn: the smallest face to find (default "
                             f"{MIN_FACE_SIZE}); smaller finds smaller faces, more slowly")
    parser.add_argument("--refine", type=int, default=0, metavar="N",
                        help="re-align each face N times from the landmarks just predicted "
                             "and predict again (default 0): each pass costs one more batch "
                             "through the network and moves the landmarks nearer those of a "
                             "well-aligned face (docs/deployment.md)")
    parser.add_argument("--video", action="store_true",
                        help="treat every input as a video (by default by file extension)")
    parser.add_argument("--webcam", metavar="SOURCE",
                        help="a live source: camera index N, or a stream URL or file OpenCV "
                             "opens as a capture; shows a window unless --no-window")
    parser.add_argument("--no-window", action="store_true",
                        help="with --webcam: no window (headless machines); results are saved")
    video = parser.add_argument_group(
        "videos and the webcam",
        "--track cuts each face's crop from its landmarks in the previous frame, moved on by "
        "the face's motion, and runs the detector only every --detect-every frames, on the "
        "frame after it placed a face and when a face is lost (the face is found far from "
        "where its crop was cut): faster, steadier and, on the trajectory "
        "benchmark, more accurate than detecting every frame, with stable face ids. With "
        "--flip each crop runs beside its mirror: the two are averaged, and their "
        "disagreement also tells a lost face. It needs a model trained "
        "with rotation/scale/shift augmentation (the paper's recipe and make demo's; one "
        "trained without it loses the face). Tracked landmarks also go through the One-Euro "
        "filter unless --no-smooth: lower --min-cutoff removes more jitter from still "
        "faces, higher --beta lags less behind moving ones. Still images are never tracked "
        "or smoothed.")
    video.add_argument("--track", action="store_true", help="landmark-driven tracking")
    video.add_argument("--detect-every", type=int, default=30, metavar="K",
                       help="with --track: run the detector every K frames (default 30)")
    video.add_argument("--no-smooth", action="store_true", help="with --track: no smoothing")
    video.add_argument("--min-cutoff", type=float, default=DEFAULT_MIN_CUTOFF,
                       help=f"One-Euro cutoff at rest, Hz (default {DEFAULT_MIN_CUTOFF})")
    video.add_argument("--beta", type=float, default=DEFAULT_BETA,
                       help=f"One-Euro speed coefficient (default {DEFAULT_BETA})")
    args = parser.parse_args(argv)
    if not args.inputs and args.webcam is None:
        parser.error("give image/video paths or --webcam N")
    if args.refine and args.track:
        parser.error("--refine re-aligns faces the detector found; --track already re-aligns "
                     "each frame from the last one's landmarks: give one of them")
    source = int(args.webcam) if args.webcam is not None and args.webcam.isdigit() else args.webcam

    from lotr_gluon.batch.annotate import Annotator, expand_inputs
    from lotr_gluon.deploy.predictor import Predictor
    from lotr_gluon.stop_signals import StopSignals

    predictor = Predictor(args.model, detector=args.detector, backend=args.backend,
                          flip=args.flip, detector_model=args.detector_model,
                          min_face_size=args.min_face, refine=args.refine)
    tracker = None
    if args.track:
        from lotr_gluon.deploy.tracking import FaceTracker

        options = dict(detect_every=args.detect_every, smoothing=not args.no_smooth,
                       min_cutoff=args.min_cutoff, beta=args.beta)
        FaceTracker(predictor, **options)  # refuse bad options before reading any video
        tracker = lambda: FaceTracker(predictor, **options)  # noqa: E731
    out_existed = os.path.isdir(args.out)
    annotator = Annotator(predictor, args.out, show_index=args.show_index, tracker=tracker,
                          overwrite=args.overwrite)
    images, videos, missing = expand_inputs(args.inputs)
    if args.video:
        videos, images = videos + images, []
    for path in missing:
        print(f"skipped {path}: no such file or folder", file=sys.stderr)
    label = f"webcam{source}" if isinstance(source, int) else "webcam"
    with StopSignals() as stop:
        outcome = annotator.run(images, videos, live=source, live_label=label,
                                show=not args.no_window, stop=stop.requested)
    if not outcome.finished and not outcome.live and not outcome.stopped:
        if not out_existed and not os.listdir(args.out):
            os.rmdir(args.out)  # leave no empty output folder behind
        print("error: no input could be read", file=sys.stderr)
        return EXIT_ERROR
    if annotator.results:
        print(f"wrote {annotator.save(as_csv=args.csv)}")
    if outcome.stopped:
        print(f"{stop.name}: {outcome.stop_line()}", file=sys.stderr)
        return stop.exit_code
    return 0


if __name__ == "__main__":
    run_main(main)
