"""What every dataset reader produces: samples, problems, and the checks they share."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import UserError

Rect = Tuple[float, float, float, float]

# A point more than this fraction of the image's larger side outside the image is an error.
FAR_OUTSIDE = 0.25


class DatasetError(UserError):
    """A dataset file is missing, unreadable or malformed: ``"<path>: <problem>"``."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


@dataclass(frozen=True)
class Sample:
    """One annotated face: where the image is and its landmarks in image pixels."""

    image_path: str
    landmarks: np.ndarray  # (N, 2) float64
    rect: Optional[Rect] = None  # face box x1 y1 x2 y2, when the dataset has one
    # The detector's five points to align from (data/detections.py); None: from the landmarks.
    five_points: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Problem:
    """Why one sample is unusable."""

    path: str
    message: str

    @classmethod
    def from_error(cls, err: DatasetError) -> "Problem":
        return cls(err.path, err.message)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def parse_points(values: Sequence[str], num_points: int, where: str) -> np.ndarray:
    """``2N`` numeric strings -> ``(N, 2)``; non-numeric, NaN or a wrong count is an error."""
    if len(values) != 2 * num_points:
        found = len(values) / 2
        found_text = f"{found:g}" if found == int(found) else f"{len(values)} numbers, {found}"
        raise DatasetError(where, f"expected {num_points} points, found {found_text}")
    try:
        numbers = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        bad = next(v for v in values if not _is_float(v))
        raise DatasetError(where, f"non-numeric coordinate {bad!r}") from None
    if not np.all(np.isfinite(numbers)):
        raise DatasetError(where, "NaN or infinite coordinate")
    return numbers.reshape(num_points, 2)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def check_inside(landmarks: np.ndarray, size: Tuple[int, int], where: str) -> None:
    """Error when a point lies far outside the image (a sign of swapped or scaled files)."""
    width, height = size
    slack = FAR_OUTSIDE * max(width, height)
    x, y = landmarks[:, 0], landmarks[:, 1]
    outside = (x < -slack) | (x > width + slack) | (y < -slack) | (y > height + slack)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DatasetError(where, f"point {i} at ({x[i]:.1f}, {y[i]:.1f}) is far outside the "
                                  f"{width}x{height} image")


def summarize_problems(problems: List[Problem], usable: int, limit: int = 20) -> str:
    """A short report: how many samples are usable, and the first problems."""
    lines = [f"{usable} usable samples, {len(problems)} skipped"]
    lines += [f"  {p}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more (tools/check_dataset.py lists all)")
    return "\n".join(lines)


def rect_is_valid(rect: Rect) -> bool:
    x1, y1, x2, y2 = rect
    return all(math.isfinite(v) for v in rect) and x2 > x1 and y2 > y1
