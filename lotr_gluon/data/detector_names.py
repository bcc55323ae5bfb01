"""The face detectors' names and what ``default`` means, for command-line help: importable
without OpenCV or the networks, so a tool checks its arguments before loading either
(:mod:`.detector` builds them)."""

# get_detector's names; ``default`` resolves to one of the others (detector.resolve_detector)
DETECTOR_NAMES = ("default", "mtcnn", "retinaface", "retinaface-mnet")
DEFAULT_RULE = ("insightface's RetinaFace when its model is on disk and insightface is "
                "installed, as the paper detects; else the offline retinaface-mnet; else mtcnn")
DETECTOR_HELP = (f"one of {', '.join(DETECTOR_NAMES)}; 'default' is {DEFAULT_RULE} "
                 f"(docs/data.md, face detection)")
