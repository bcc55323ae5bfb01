"""Video: the One-Euro filter against hand-worked values, and the tracker's bookkeeping on a
moving bright square seen by a stand-in detector and a stand-in network that localises it."""
import math

import numpy as np
import pytest

from lotr_gluon.data.crop_spec import CropSpec
from lotr_gluon.data.detector import Face
from lotr_gluon.data.landmarks import get_schema
from lotr_gluon.deploy.predictor import Predictor
from lotr_gluon.deploy.tracking import FaceTracker, OneEuroFilter

SCHEMA = get_schema("jd106")


def test_one_euro_first_steps_by_hand():
    # min_cutoff 1 Hz, beta 0, 30 fps: tau = 1 / (2 pi), alpha = 1 / (1 + tau * 30) = 0.17317.
    smoother = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    assert smoother(np.array([0.0]), 0.0)[0] == 0.0
    alpha = 1 / (1 + 30 / (2 * math.pi))
    assert smoother(np.array([1.0]), 1 / 30)[0] == pytest.approx(alpha, rel=1e-12)
    assert smoother(np.array([1.0]), 2 / 30)[0] == pytest.approx(alpha + (1 - alpha) * alpha)


def test_one_euro_follows_fast_motion_closer_with_a_larger_beta():
    track = [np.array([10.0 * t]) for t in range(30)]  # 300 px/s
    slow, fast = OneEuroFilter(1.0, 0.0), OneEuroFilter(1.0, 1.0)
    lag_slow = [10.0 * t - slow(x, t / 30)[0] for t, x in enumerate(track)][-1]
    lag_fast = [10.0 * t - fast(x, t / 30)[0] for t, x in enumerate(track)][-1]
    assert 0 < lag_fast < lag_slow / 5


SIZE = 64


def _symmetric_shape(seed: int) -> np.ndarray:
    """A random (106, 2) shape around (0, 0), left-right symmetric as a face is (with flip TTA
    the tracker runs each crop beside its mirror and averages the two)."""
    shape = np.random.RandomState(seed).uniform(-15, 15, (106, 2))
    for i, j in enumerate(SCHEMA.flip_perm):
        if i == j:
            shape[i, 0] = 0.0
        elif i < j:
            shape[j] = (-shape[i, 0], shape[i, 1])
    return shape


# The hand-worked detector counts below are for a shift check at 2.5% of the crop (the
# mechanism, whatever the default: MAX_SHIFT is chosen on the video benchmark).
HAND_WORKED_SHIFT = 0.025


class _Standin:
    """What FaceTracker needs of a Predictor: a detector and a network, both exact for a
    bright 40 px square whose landmarks are a fixed shape relative to its centre."""

    def __init__(self, shape: np.ndarray):
        self.shape = shape  # (106, 2) around (0, 0), in pixels
        self.input_size = SIZE
        # A crop whose template is the shape's own five points: the square is cut unscaled.
        self.crop_spec = CropSpec(SIZE).with_template(SCHEMA.five_point(shape) + SIZE / 2)
        self.flip, self.flip_perm = False, SCHEMA.flip_perm
        self.schema = SCHEMA
        self.detector_calls = 0

    def detector(self, image):
        self.detector_calls += 1
        ys, xs = np.nonzero(image[:, :, 0] > 128)
        if len(xs) < 400:  # less than a quarter of the square in view
            return []
        centre = np.array([xs.mean(), ys.mean()])
        box = np.concatenate([centre - 20, centre + 20])
        return [Face(box, 0.9, SCHEMA.five_point(self.shape) + centre)]

    def _run(self, crops):
        out = []
        for crop in crops:
            ys, xs = np.nonzero(crop[0] > 128)
            centre = (np.array([xs.mean(), ys.mean()]) if len(xs)
                      else np.array([-1e4, -1e4]))  # nothing there: points far outside
            out.append(self.shape + centre)
        return np.stack(out)

    # The real Predictor's cropping and mirrored pass, around the stand-in network.
    crop = Predictor.crop
    predict_crops = Predictor.predict_crops
    predict_crops_and_mirrors = Predictor.predict_crops_and_mirrors


def _frame(centre, width=200, height=120):
    frame = np.zeros((height, width, 3), np.uint8)
    x, y = (int(round(v)) for v in centre)
    frame[max(0, y - 20):max(0, y + 20), max(0, x - 20):max(0, x + 20)] = 255
    return frame


def test_the_tracker_keeps_ids_detects_rarely_and_finds_a_face_that_came_back():
    shape = _symmetric_shape(0)
    standin = _Standin(shape)
    tracker = FaceTracker(standin, detect_every=10, smoothing=False,
                          max_shift=HAND_WORKED_SHIFT)
    path = [(60 + 2 * t, 60) for t in range(20)]  # tracked while it moves right
    path += [(260, 60)] * 5  # gone (out of the frame)
    path += [(60, 60 + t) for t in range(10)]  # back, elsewhere
    ids, errors = [], []
    for t, centre in enumerate(path):
        faces = tracker(_frame(centre))
        if centre[0] > 200:
            assert faces == [], t
            continue
        assert len(faces) == 1, t
        ids.append(faces[0].face_id)
        errors.append(np.abs(faces[0].landmarks - (shape + centre)).max())
    assert ids[:20] == [0] * 20 and set(ids[20:]) == {1}  # a new id after it was lost
    assert max(errors) < 1.0  # px: alignment from the last frame's landmarks holds
    # Detector runs: frame 0, 1 (a new face is checked on its second frame), 2 (on frame 1
    # the face, 2 px on, was found 2/64 = 3.1% of the crop from where its crop was cut, more
    # than MAX_SHIFT, before any motion was known: it was re-seeded from that frame's
    # detection and is checked again), 10 (every 10th), 20 (every 10th; the face has just
    # left), 21-24 (no face tracked: look on every frame), 25 (it is back) and 26 (its second
    # frame; 1 px on: 1.6%, kept), 30: 12 of 35.
    assert standin.detector_calls == 12


def test_tracking_refuses_a_box_aligned_model_and_bad_smoothing():
    standin = _Standin(np.zeros((106, 2)))
    with pytest.raises(ValueError, match="min_cutoff > 0"):
        FaceTracker(standin, min_cutoff=0.0)
    with pytest.raises(ValueError, match="fps must be positive"):
        FaceTracker(standin, fps=0.0)
    standin.crop_spec = CropSpec(SIZE, align="bbox")
    with pytest.raises(ValueError, match="five-point"):
        FaceTracker(standin)


def test_a_detection_that_agrees_keeps_the_tracks_motion():
    """A square moving 3 px a frame: the motion is measured on its second frame (detected
    too) and kept through frame 5 (a detection frame whose detection agrees with the track).
    The motion maps frame t-1's crop into frame t's: a fixed photo point sits 3 px further
    left in a crop that moved 3 px right."""
    standin = _Standin(_symmetric_shape(1))
    tracker = FaceTracker(standin, detect_every=5, smoothing=False)
    tracker(_frame((50, 60)))
    assert tracker.tracks[0].motion is None  # just detected: no motion seen yet
    for t in range(1, 6):
        tracker(_frame((50 + 3 * t, 60)))
    # Frames 0, 1 (the new face's second: 3 px on, 4.7% of the crop from where it was cut
    # with no motion known yet, so re-seeded from that frame's detection), 2 (checked again
    # after the re-seed) and 5.
    assert standin.detector_calls == 4
    np.testing.assert_allclose(tracker.tracks[0].motion, [[1, 0, -3], [0, 1, 0]], atol=1e-6)


class _TwoSquares(_Standin):
    """The stand-in detector, finding every bright square instead of one."""

    def detector(self, image):
        import cv2

        self.detector_calls += 1
        count, _, stats, centres = cv2.connectedComponentsWithStats(
            (image[:, :, 0] > 128).astype(np.uint8))
        return [Face(np.concatenate([c - 20, c + 20]), 0.9, SCHEMA.five_point(self.shape) + c)
                for c, s in zip(centres[1:], stats[1:]) if s[cv2.CC_STAT_AREA] >= 400]


def _frame_of(*centres, width=320, height=120):
    frame = np.zeros((height, width, 3), np.uint8)
    for centre in centres:
        frame = np.maximum(frame, _frame(centre, width, height))
    return frame


def test_two_faces_keep_their_own_ids():
    """Face A is tracked from frame 0; face B walks in at frame 3 and is picked up by the next
    scheduled detection (frame 5) as id 1; B leaves at frame 12 and A keeps id 0 throughout;
    B's landmarks never get A's id or the reverse."""
    standin = _TwoSquares(_symmetric_shape(2))
    tracker = FaceTracker(standin, detect_every=5, smoothing=False)
    for t in range(16):
        a = (60 + 2 * t, 60)
        b = (240 - 2 * t, 60) if 3 <= t < 12 else (420, 60)  # off the frame otherwise
        faces = {face.face_id: face for face in tracker(_frame_of(a, b))}
        expected = {0} | ({1} if 5 <= t < 12 else set())
        assert set(faces) == expected, t
        np.testing.assert_allclose(faces[0].landmarks, standin.shape + a, atol=1.0)
        if 1 in faces:
            np.testing.assert_allclose(faces[1].landmarks, standin.shape + b, atol=1.0)


def test_the_video_floor_crops_each_frame_from_the_truth():
    """benchmark --video's floor row: each frame cropped from the truth's own five points. The
    stand-in network is exact, so the floor is the truth itself, and a frame without the face
    in view has no prediction."""
    from lotr_gluon.benchmark.video import TrajectoryVideo, score_predictions, truth_aligned

    shape = np.random.RandomState(3).uniform(-15, 15, (106, 2))
    standin = _Standin(shape)
    centres = [(60.0 + 3 * t, 60.0) for t in range(5)]
    truth = [shape + c for c in centres] + [None]
    video = TrajectoryVideo([_frame(c) for c in centres] + [_frame((-100, -100))], truth)
    predictions, fps = truth_aligned(video, standin)
    assert predictions[-1] is None and fps > 0
    for got, expected in zip(predictions[:-1], truth[:-1]):
        np.testing.assert_allclose(got, expected, atol=1.0)  # px: the crop's resolution
    assert score_predictions(predictions, truth)["missed"] == 0


def test_the_tracked_crops_alignment_error_by_hand():
    """benchmark --video's "tracked crops off" column, worked by hand: an exact stand-in
    network and a square moving 3 px a frame. The drawn square's pixel centres sit half a
    pixel up and left of the truth, so every seen position, and every crop cut from one, is
    off by (0.5, 0.5). Frames 0 and 1 are detected (not counted); frames 2-7 are cut where the
    last frame's face was moved on by its motion: off by (0.5, 0.5)."""
    from lotr_gluon.benchmark.video import TrajectoryVideo, run_tracking

    shape = _symmetric_shape(4)
    standin = _Standin(shape)
    centres = [(50.0 + 3 * t, 60.0) for t in range(8)]
    video = TrajectoryVideo([_frame(c) for c in centres], [shape + c for c in centres])
    _, _, error = run_tracking(video, FaceTracker(standin, detect_every=100, smoothing=False))
    w, h = shape.max(axis=0) - shape.min(axis=0)
    assert error == pytest.approx(math.hypot(0.5, 0.5) / math.sqrt(w * h), rel=1e-3)


class _Unsure(_Standin):
    """The stand-in network, whose answer on mirrored crops is 10 px off in its next pass
    after ``unsure`` is set: the plain and mirrored answers disagree, as they do on a crop
    that lost its face."""

    unsure = False

    def _run(self, crops):
        out = super()._run(crops)
        if self.unsure:
            out[len(out) // 2:, :, 0] += 10.0  # the mirrored half of the batch
            self.unsure = False
        return out


def test_a_face_whose_mirror_disagrees_is_found_again_in_the_same_frame_with_its_id():
    """Frame 4's crop and its mirror disagree (10 px over a 64 px crop: 0.16 > 0.02): the track
    is lost, the detector runs again in that frame and the detection, overlapping the lost
    face, re-seeds it with its id; frame 5 checks it again, as every face the detector
    placed. Detector runs: 0, 1, 4, 5."""
    standin = _Unsure(_symmetric_shape(5))
    standin.flip = True  # flip TTA: each crop beside its mirror
    tracker = FaceTracker(standin, detect_every=100, smoothing=False,
                          max_shift=HAND_WORKED_SHIFT)
    for t in range(7):
        standin.unsure = t == 4
        faces = tracker(_frame((60 + t, 60)))
        assert [face.face_id for face in faces] == [0], t
        assert faces[0].detected == (t in (0, 1, 4, 5)), t
    assert standin.detector_calls == 4


def test_a_real_face_video_carries_the_still_photos_answer_with_the_face():
    """benchmark --video's real face: the photo's largest face is cut with its surroundings
    and moved; its reference landmarks move with it. A bright dot drawn at one landmark of
    the photo is found, in every frame, under that landmark's reference position."""
    from lotr_gluon.benchmark.video import real_face_video
    from lotr_gluon.deploy.predictor import FaceLandmarks

    photo = np.full((300, 320, 3), 90, np.uint8)
    photo[118:123, 148:153] = 255  # the dot, centred on (150, 120)
    landmarks = _symmetric_shape(6) + (150.0, 140.0)
    landmarks[0] = (150.0, 120.0)
    small = FaceLandmarks(np.array([10.0, 10.0, 40.0, 40.0]), 0.9, landmarks - 100)
    large = FaceLandmarks(np.array([110.0, 100.0, 190.0, 180.0]), 0.9, landmarks)
    video = real_face_video(photo, lambda image: [small, large], num_frames=30)
    seen = 0
    for frame, truth in zip(video.frames, video.truth):
        if truth is not None:
            x, y = np.round(truth[0]).astype(int)
            assert frame[y, x].min() > 200, (x, y)
            seen += 1
    assert seen > 20


def test_the_distance_between_two_modes_by_hand():
    """Two modes 3 px right and 4 px down of each other on every point: 5 px, over the
    reference box's size (sqrt(w h) = 40 px here); a frame either mode lacks is skipped."""
    from lotr_gluon.benchmark.video import _agreement

    truth = np.array([[0.0, 0.0], [40.0, 0.0], [0.0, 40.0], [40.0, 40.0]])
    a = [truth, truth + 1.0, None]
    b = [truth + (3.0, 4.0), truth + (4.0, 5.0), truth]
    assert _agreement(a, b, [truth] * 3) == pytest.approx(5.0 / 40.0)


def test_a_face_found_far_from_its_crop_is_re_seeded_with_its_id():
    """A square moving 1 px a frame jumps 4 px at frame 5: found 4/64 = 6% of the crop from
    where its crop was cut (more than MAX_SHIFT), so the detector looks again in that frame
    and re-seeds it (id kept, landmarks exact). The jump enters the smoothed motion (half of
    5 px + half of 1 px = 3 px a frame): frame 6 is cut 2 px ahead of the face (3.1%), also
    re-seeded; frame 7's motion (2 px) is 1 px ahead (1.6%), kept. Detector runs: 0, 1 (the
    new face's second frame), 5, 6 and 7 (each the frame after a re-seed)."""
    shape = _symmetric_shape(7)
    standin = _Standin(shape)
    tracker = FaceTracker(standin, detect_every=100, smoothing=False,
                          max_shift=HAND_WORKED_SHIFT)
    for t in range(10):
        centre = (60 + t + (4 if t >= 5 else 0), 60)
        faces = tracker(_frame(centre))
        assert [face.face_id for face in faces] == [0], t
        np.testing.assert_allclose(faces[0].landmarks, shape + centre, atol=1.0)
    assert standin.detector_calls == 5
