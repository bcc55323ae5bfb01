"""Procedural faces with 106 JD-landmark points, written in the JD-landmark layout.

A canonical face is built left-right symmetric in a face frame (x right, y down, unit = half
the face width, origin between the eyes' level and the nose): point ``i`` mirrors point
``JD106.flip_perm[i]``. Expression changes (mouth open, smile, eyes closed, brow raise) act
symmetrically; a 3D rotation of per-point depths gives yaw/pitch/roll; the projected points
are scaled and placed in the image, and the face is drawn so that every landmark sits on a
visible feature: the jaw points on the skin/background edge, brow points on the brows, eye
points on the eyelids, lip points on the lip edges.

Every image is drawn from its own ``RandomState(seed, index)``, so a set is the same bytes
whatever the number of worker processes.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Dict, Iterator, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..errors import UserError
from ..fileio import atomic_path, atomic_write_text
from .landmarks import JD106

NUM_POINTS = 106


def _arc(x0: float, x1: float, y_mid: float, height: float, n: int,
         include_ends: bool = True) -> np.ndarray:
    """``n`` points on a parabola from ``x0`` to ``x1`` bulging ``height`` (negative = up)."""
    u = np.linspace(0, 1, n) if include_ends else np.linspace(0, 1, n + 2)[1:-1]
    x = x0 + (x1 - x0) * u
    y = y_mid + height * (1 - (2 * u - 1) ** 2)
    return np.stack([x, y], axis=1)


@dataclass(frozen=True)
class Expression:
    """Symmetric shape changes, each 0 (neutral) to 1."""

    mouth_open: float = 0.0
    smile: float = 0.0
    eyes_closed: float = 0.0
    brow_raise: float = 0.0
    jaw_width: float = 1.0  # face shape: >1 wider jaw
    face_length: float = 1.0  # >1 longer face


def canonical_face(expr: Expression = Expression()) -> Tuple[np.ndarray, np.ndarray]:
    """The symmetric 106-point face in the face frame, and each point's depth.

    Returns ``(points (106, 2), depth (106,))``; depth is positive towards the camera.
    """
    p = np.zeros((NUM_POINTS, 2))
    z = np.zeros(NUM_POINTS)
    # Jaw 0-32: from the left temple round the chin to the right temple.
    delta = 0.3
    theta = (1 - np.arange(33) / 32) * (math.pi + 2 * delta) - delta
    below = np.clip(np.sin(theta), 0, None)
    taper = 1 - 0.28 * below ** 3 * expr.jaw_width ** -1
    p[0:33, 0] = 0.92 * np.cos(theta) * taper  # jaw 2.15 eye-to-mouth distances wide, as real faces
    p[0:33, 1] = -0.05 + 1.22 * expr.face_length * np.sin(theta)
    z[0:33] = -0.55 + 0.75 * below ** 2
    # Eyebrows: upper arcs 33-37 (left, outer -> inner) and 42-46 (right, inner -> outer);
    # lower arcs 38-41 (left, inner -> outer) and 47-50 (right, outer -> inner).
    lift = -0.12 * expr.brow_raise
    left_upper = _arc(-0.82, -0.16, -0.50 + lift, -0.10, 5)
    left_lower = _arc(-0.18, -0.78, -0.42 + lift, -0.07, 4, include_ends=False)
    p[33:38], p[38:42] = left_upper, left_lower
    z[33:42] = 0.25
    # Nose bridge 51-54 (54 the tip) and lower nose 55-65 (60 in the middle).
    p[51:55] = np.stack([np.zeros(4), np.linspace(-0.30, 0.20, 4)], axis=1)
    z[51:55] = np.linspace(0.35, 0.65, 4)
    u = np.linspace(-1, 1, 11)
    p[55:66] = np.stack([0.27 * u, 0.30 - 0.12 * u ** 2 + 0.04 * np.abs(u) ** 6], axis=1)
    z[55:66] = 0.40 - 0.12 * u ** 2
    # Left eye 66-73: 66 outer corner, upper lid 67-69, 70 inner corner, lower lid 71-73.
    eye_c, half_w = np.array([-0.43, -0.24]), 0.22
    upper_h = 0.10 * (1 - expr.eyes_closed) + 0.005
    lower_h = 0.065 * (1 - 0.7 * expr.eyes_closed) + 0.005
    ex = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 0.5, 0.0, -0.5])
    lid = np.array([0, -upper_h * 0.8, -upper_h, -upper_h * 0.8, 0,
                    lower_h * 0.8, lower_h, lower_h * 0.8])
    p[66:74] = eye_c + np.stack([ex * half_w, lid + 0.012 * np.abs(ex)], axis=1)
    p[74] = eye_c
    p[104] = eye_c  # pupil
    z[66:75] = 0.15
    z[104] = 0.17
    # Outer lips 84-95: 84 left corner, upper 85-89, 90 right corner, lower 91-95 (right -> left).
    mouth_y = 0.62 * expr.face_length
    corner_y = mouth_y - 0.06 * expr.smile
    half_m = 0.36 + 0.06 * expr.smile
    opening = 0.22 * expr.mouth_open
    ux = np.linspace(-1, 1, 7)
    upper = mouth_y - 0.07 - 0.015 * np.cos(ux * 3 * math.pi) * (1 - np.abs(ux))
    p[84:91] = np.stack([half_m * ux, upper], axis=1)
    p[84, 1] = p[90, 1] = corner_y
    lx = np.linspace(1, -1, 7)[1:-1]
    p[91:96] = np.stack([half_m * lx, mouth_y + 0.09 + opening - 0.05 * lx ** 2], axis=1)
    # Inner lips 96-103: 96 left corner, upper 97-99, 100 right corner, lower 101-103.
    ix = np.linspace(-1, 1, 5)
    inner_half = half_m * 0.78
    p[96:101] = np.stack([inner_half * ix, mouth_y - 0.01 + 0.01 * ix ** 2], axis=1)
    p[96, 1] = p[100, 1] = corner_y + 0.005
    jx = np.linspace(1, -1, 5)[1:-1]
    p[101:104] = np.stack([inner_half * jx, np.full(3, mouth_y + 0.005 + opening * 0.9)],
                           axis=1)
    z[84:104] = 0.32 - 0.1 * np.abs(p[84:104, 0])
    # Mirror the left half onto the right through the JD flip table.
    perm = JD106.flip_perm
    for i in range(NUM_POINTS):
        j = perm[i]
        if (33 <= i <= 41) or (66 <= i <= 74) or i == 104:
            p[j] = [-p[i, 0], p[i, 1]]
            z[j] = z[i]
    return p, z


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 rotation, angles in degrees; yaw about y, pitch about x, roll about z."""
    a, b, c = np.radians([yaw, pitch, roll])
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ rx @ ry


def _forehead(n: int = 15) -> np.ndarray:
    """Face-frame outline above the brows joining jaw points 32 and 0 (for the skin polygon)."""
    theta = np.linspace(0, math.pi, n)
    return np.stack([np.cos(theta) * 0.98, -0.12 - 0.95 * np.sin(theta)], axis=1)


def _project(points: np.ndarray, depth: np.ndarray, rot: np.ndarray, scale: float,
             centre: np.ndarray) -> np.ndarray:
    xyz = np.concatenate([points, -depth[:, None]], axis=1)  # camera looks along +z
    rotated = xyz @ rot.T
    return rotated[:, :2] * scale + centre


@dataclass(frozen=True)
class SyntheticSample:
    image: np.ndarray  # BGR uint8
    landmarks: np.ndarray  # (106, 2) float, image pixels
    rect: Tuple[float, float, float, float]  # face box x1 y1 x2 y2


def _background(rng: np.random.RandomState, size: int) -> np.ndarray:
    top, bottom = rng.randint(0, 256, 3), rng.randint(0, 256, 3)
    ramp = np.linspace(0, 1, size)[:, None, None]
    image = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    image = np.ascontiguousarray(np.broadcast_to(image, (size, size, 3)))
    for _ in range(rng.randint(3, 12)):  # clutter
        colour = tuple(int(c) for c in rng.randint(0, 256, 3))
        kind = rng.randint(3)
        a, b = rng.randint(0, size, 2), rng.randint(0, size, 2)
        if kind == 0:
            cv2.rectangle(image, tuple(int(v) for v in a), tuple(int(v) for v in b), colour, -1)
        elif kind == 1:
            cv2.circle(image, tuple(int(v) for v in a), int(rng.randint(4, size // 4)), colour, -1)
        else:
            cv2.line(image, tuple(int(v) for v in a), tuple(int(v) for v in b), colour,
                     int(rng.randint(1, 6)))
    return image


def _poly(image, pts, colour, closed=True, thickness=-1):
    line = np.round(pts * 16).astype(np.int32).reshape(-1, 1, 2)
    if thickness < 0:
        cv2.fillPoly(image, [line], colour, cv2.LINE_AA, shift=4)
    else:
        cv2.polylines(image, [line], closed, colour, thickness, cv2.LINE_AA, shift=4)


def render_face(rng: np.random.RandomState, size: int = 256) -> SyntheticSample:
    """Draw one synthetic face photo with its 106 landmarks."""
    expr = Expression(mouth_open=float(rng.uniform(0, 1) ** 2 * (rng.rand() < 0.5)),
                      smile=float(rng.uniform(0, 1) * (rng.rand() < 0.5)),
                      eyes_closed=float(rng.rand() < 0.15),
                      brow_raise=float(rng.uniform(0, 1) * (rng.rand() < 0.4)),
                      jaw_width=float(rng.uniform(0.8, 1.25)),
                      face_length=float(rng.uniform(0.92, 1.1)))
    points, depth = canonical_face(expr)
    gaze = rng.uniform(-0.06, 0.06, 2)
    points[[104, 105]] += gaze * [1.0, 0.6]  # both pupils look the same way
    rot = rotation_matrix(rng.uniform(-35, 35), rng.uniform(-18, 18), rng.uniform(-30, 30))
    scale = size * rng.uniform(0.22, 0.34)
    centre = size / 2 + rng.uniform(-0.12, 0.12, 2) * size
    landmarks = _project(points, depth, rot, scale, centre)

    forehead = _forehead()
    forehead_px = _project(forehead, np.full(len(forehead), -0.1), rot, scale, centre)
    skin_outline = np.concatenate([landmarks[0:33], forehead_px], axis=0)

    image = _background(rng, size)
    tone = rng.uniform(0, 1)  # dark to light skin, BGR, with a little jitter
    skin = np.array([40, 55, 90]) * (1 - tone) + np.array([185, 205, 240]) * tone
    skin = np.clip(skin + rng.uniform(-15, 15, 3), 0, 255)
    if rng.rand() < 0.6:  # hair behind the forehead
        hair_pts = _project(forehead * [1.08, 1.15] + [0, -0.05], np.full(len(forehead), -0.3),
                            rot, scale, centre)
        _poly(image, np.concatenate([hair_pts, landmarks[[32, 0]]]),
              tuple(int(c) for c in rng.randint(0, 90, 3)))
    face_mask = np.zeros((size, size), np.uint8)
    _poly(face_mask, skin_outline, 255)
    light = rng.uniform(-1, 1, 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    shading = 1 + 0.5 * (light[0] * xx + light[1] * yy)
    face_layer = np.clip(skin[None, None, :] * shading[..., None], 0, 255).astype(np.uint8)
    mask = face_mask > 127
    image[mask] = face_layer[mask]

    dark = tuple(int(c) for c in np.clip(skin * 0.35, 0, 255))
    brow_w = max(1, int(round(scale * 0.05)))
    for upper, lower in ((range(33, 38), range(38, 42)), (range(42, 47), range(47, 51))):
        _poly(image, np.concatenate([landmarks[list(upper)], landmarks[list(lower)]]), dark)
        _poly(image, landmarks[list(upper)], dark, closed=False, thickness=brow_w)
    lid_colour = tuple(int(c) for c in np.clip(skin * 0.5, 0, 255))
    iris_colour = tuple(int(c) for c in rng.randint(20, 140, 3))
    for contour, pupil in ((range(66, 74), 104), (range(75, 83), 105)):
        eye = landmarks[list(contour)]
        if expr.eyes_closed < 0.5:
            eye_mask = np.zeros((size, size), np.uint8)
            _poly(eye_mask, eye, 255)
            iris = np.zeros_like(image)
            iris[:] = (235, 235, 235)
            radius = max(1, int(round(scale * 0.075)))
            c = tuple(int(round(v)) for v in landmarks[pupil])
            cv2.circle(iris, c, radius, iris_colour, -1, cv2.LINE_AA)
            cv2.circle(iris, c, max(1, radius // 2), (10, 10, 10), -1, cv2.LINE_AA)
            sel = eye_mask > 127
            image[sel] = iris[sel]
        _poly(image, eye, lid_colour, closed=True, thickness=max(1, brow_w // 2))
    nose_colour = tuple(int(c) for c in np.clip(skin * 0.6, 0, 255))
    _poly(image, landmarks[51:55], nose_colour, closed=False, thickness=1)
    _poly(image, landmarks[55:66], nose_colour, closed=False, thickness=max(1, brow_w // 2))
    lip_colour = tuple(int(c) for c in np.clip(skin * [0.55, 0.5, 1.1], 0, 255))
    _poly(image, landmarks[84:96], lip_colour)
    if expr.mouth_open > 0.05:
        _poly(image, landmarks[96:104], (25, 20, 40))
    else:
        _poly(image, landmarks[96:104], tuple(int(c) for c in np.clip(skin * 0.3, 0, 255)),
              thickness=1)

    if rng.rand() < 0.25:  # partial occlusion: a hand, a mask, a microphone...
        corner = landmarks[rng.randint(NUM_POINTS)] + rng.uniform(-0.3, 0.3, 2) * scale
        extent = rng.uniform(0.2, 0.55, 2) * scale
        cv2.rectangle(image, tuple(int(v) for v in corner - extent),
                      tuple(int(v) for v in corner + extent),
                      tuple(int(c) for c in rng.randint(0, 256, 3)), -1)
    if rng.rand() < 0.4:
        k = int(rng.choice([3, 5]))
        image = cv2.GaussianBlur(image, (k, k), 0)
    if rng.rand() < 0.4:
        noise = rng.normal(0, rng.uniform(2, 10), image.shape)
        image = np.clip(image + noise, 0, 255).astype(np.uint8)

    lo, hi = skin_outline.min(axis=0), skin_outline.max(axis=0)
    rect = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    return SyntheticSample(image, landmarks.astype(np.float64), rect)


def sample_rng(seed: int, index: int) -> np.random.RandomState:
    """The generator of image ``index`` of the set made with ``seed``."""
    return np.random.RandomState(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def format_landmarks(landmarks: np.ndarray) -> str:
    """JD-landmark text: the point count, then one ``x y`` line per point."""
    lines = [str(len(landmarks))] + [f"{x:.3f} {y:.3f}" for x, y in landmarks]
    return "\n".join(lines) + "\n"


def _write_one(task: Tuple[str, int, int, int]) -> str:
    split_dir, seed, index, size = task
    rng = sample_rng(seed, index)
    sample = render_face(rng, size)
    name = f"synth_{index:06d}.jpg"
    quality = int(rng.randint(60, 96))
    ok, buf = cv2.imencode(".jpg", sample.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"could not encode {name}")
    with atomic_path(os.path.join(split_dir, "picture", name)) as tmp:
        with open(tmp, "wb") as f:
            f.write(buf.tobytes())
    atomic_write_text(os.path.join(split_dir, "landmark", name + ".txt"),
                      format_landmarks(sample.landmarks))
    x1, y1, x2, y2 = sample.rect
    atomic_write_text(os.path.join(split_dir, "rect", name + ".rect"),
                      f"{x1:.0f} {y1:.0f} {x2:.0f} {y2:.0f}\n")
    return name


DEFAULT_SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))


def split_sizes(num: int, splits: Sequence[Tuple[str, float]]) -> Dict[str, int]:
    """Images per split; rounding leftovers go to the first split."""
    sizes = {name: int(num * frac) for name, frac in splits}
    sizes[splits[0][0]] += num - sum(sizes.values())
    return sizes


def synthetic_tasks(out: str, num: int, seed: int, size: int,
                    splits: Sequence[Tuple[str, float]] = DEFAULT_SPLITS
                    ) -> Iterator[Tuple[str, int, int, int]]:
    """``(split_dir, seed, index, size)`` for every image; indices run across splits."""
    index = 0
    for name, count in split_sizes(num, splits).items():
        for _ in range(count):
            yield os.path.join(out, name), seed, index, size
            index += 1


def write_synthetic_dataset(out: str, num: int, seed: int = 0, size: int = 256,
                            workers: Optional[int] = None, progress: bool = True) -> Dict[str, int]:
    """Write ``num`` faces as ``out/{train,val,test}/{picture,landmark,rect}`` (80/10/10).

    Returns the number of images per split.
    """
    if num < 1:
        raise UserError(f"--num must be at least 1, got {num}")
    tasks = list(synthetic_tasks(out, num, seed, size))
    for split_dir in {t[0] for t in tasks}:
        for sub in ("picture", "landmark", "rect"):
            os.makedirs(os.path.join(split_dir, sub), exist_ok=True)
    workers = workers or os.cpu_count() or 1
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="synthetic faces", unit="img",
               disable=None if progress else True)  # None: off when not a terminal
    if workers > 1 and len(tasks) > 50:
        with get_context("fork").Pool(workers) as pool:
            for _ in pool.imap_unordered(_write_one, tasks, chunksize=16):
                bar.update()
    else:
        for task in tasks:
            _write_one(task)
            bar.update()
    bar.close()
    return split_sizes(num, DEFAULT_SPLITS)
