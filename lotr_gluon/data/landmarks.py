"""Landmark schemas: what the code needs to know about one markup, read from a schema file.

A schema says how many points a face has (and, optionally, their names), which point each one
becomes in the mirror image, how a face is aligned (five points, or its box when the markup
has no eyes, nose and mouth corners), how NME is normalised, and how to draw the points. The
built-in markups (JD-106, 300-W's 68, WFLW's 98) are schema files in ``data/schemas/``; a user's
own is one more file of the same keys (docs/custom-landmarks.md), read by :func:`load_schema`.

Indices are 0-based. "Left" means image-left (the subject's right). ``flip_perm[i]`` is the
index that point ``i`` becomes in the mirrored image. A point that is not labelled on a face is
NaN in that face's landmarks: it is left out of the alignment means here, of the loss
(:mod:`..losses`) and of the metrics (:mod:`..metrics`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import yaml

from ..errors import UserError
from ..metrics import NORMALISATIONS

Group = Tuple[int, ...]
NORMALISERS = NORMALISATIONS  # what NME may divide by (metrics.normaliser)
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
BUILTIN_NAMES = ("jd106", "300w68", "wflw98")


class SchemaError(UserError):
    """A schema file (or a schema's definition) is malformed; the message names it."""


def perm_from_pairs(num_points: int, pairs: Iterable[Sequence[int]]) -> Tuple[int, ...]:
    """A flip permutation from mirror pairs; points in no pair map to themselves."""
    perm = list(range(num_points))
    for a, b in pairs:
        for i in (a, b):
            if not 0 <= i < num_points:
                raise SchemaError(f"flip pair ({a}, {b}) is outside 0..{num_points - 1}")
        if perm[a] != a or perm[b] != b:
            raise SchemaError(f"point in flip pair ({a}, {b}) is already paired")
        perm[a], perm[b] = b, a
    return tuple(perm)


def _group_means(landmarks: np.ndarray, groups: Sequence[Group]) -> np.ndarray:
    """``(..., N, 2)`` -> ``(..., len(groups), 2)``: each group's mean over its labelled
    (finite) points; NaN where a group has none."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    means = []
    for group in groups:
        points = landmarks[..., list(group), :]
        labelled = np.isfinite(points).all(axis=-1, keepdims=True)
        count = labelled.sum(axis=-2)
        total = np.where(labelled, points, 0.0).sum(axis=-2)
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append(np.where(count > 0, total / np.maximum(count, 1), np.nan))
    return np.stack(means, axis=-2)


@dataclass(frozen=True)
class LandmarkSchema:
    """One landmark markup.

    Attributes
    ----------
    name : str
    num_points : int
    flip_perm : tuple of int
        Point ``i`` of an image is point ``flip_perm[i]`` of its mirror; an involution.
    five_point_groups : 5 tuples of int, or empty
        Left eye centre, right eye centre, nose tip, left and right mouth corner, each the mean
        of its group's labelled points (the order of RetinaFace's 5 points and the ArcFace
        template). Empty: the markup has none, and its faces are aligned by their box
        (``data.align: bbox``).
    outer_eye_corners : (int, int) or None
        For inter-ocular NME.
    eye_centre_groups : 2 tuples of int, or empty
        For inter-pupil NME: each eye centre is the mean of its group.
    polylines : tuple of (indices, closed)
        For drawing.
    point_names : tuple of str
        One per point, or empty (the points are known by their index).
    normaliser : str
        What NME divides by for this markup (:data:`NORMALISERS`): ``bbox``, the box of the
        face's landmarks (the JD-landmark rule); ``inter_ocular``, the outer eye corners' distance
        (300-W, WFLW); ``inter_pupil``, the eye centres'.
    """

    name: str
    num_points: int
    flip_perm: Tuple[int, ...]
    five_point_groups: Tuple[Group, ...] = ()
    outer_eye_corners: Optional[Tuple[int, int]] = None
    eye_centre_groups: Tuple[Group, ...] = ()
    polylines: Tuple[Tuple[Group, bool], ...] = field(default=())
    point_names: Tuple[str, ...] = ()
    normaliser: str = "bbox"

    def __post_init__(self):
        n, perm, where = self.num_points, self.flip_perm, f"schema {self.name}"
        if n < 1:
            raise SchemaError(f"{where}: num_points must be at least 1, got {n}")
        if len(perm) != n or sorted(perm) != list(range(n)):
            raise SchemaError(f"{where}: flip_perm must be a permutation of 0..{n - 1}")
        if any(perm[perm[i]] != i for i in range(n)):
            raise SchemaError(f"{where}: flip_perm must be an involution")
        if len(self.five_point_groups) not in (0, 5):
            raise SchemaError(f"{where}: five_points needs 5 entries (eyes, nose tip, mouth "
                              f"corners), or none for box alignment")
        if any(not g for g in self.five_point_groups + self.eye_centre_groups):
            raise SchemaError(f"{where}: an alignment or eye-centre entry has no points")
        if len(self.eye_centre_groups) not in (0, 2):
            raise SchemaError(f"{where}: eye_centres needs 2 entries (left, right)")
        if self.point_names and len(self.point_names) != n:
            raise SchemaError(f"{where}: {len(self.point_names)} point names for {n} points")
        if len(set(self.point_names)) != len(self.point_names):
            raise SchemaError(f"{where}: point names repeat")
        if self.normaliser not in NORMALISERS:
            raise SchemaError(f"{where}: normaliser must be one of {list(NORMALISERS)}, "
                              f"got {self.normaliser!r}")
        if self.normaliser == "inter_ocular" and self.outer_eye_corners is None:
            raise SchemaError(f"{where}: normaliser inter_ocular needs outer_eye_corners")
        if self.normaliser == "inter_pupil" and not self.eye_centre_groups:
            raise SchemaError(f"{where}: normaliser inter_pupil needs eye_centres")
        indices = [i for g in self.five_point_groups for i in g]
        indices += list(self.outer_eye_corners or ())
        indices += [i for g in self.eye_centre_groups for i in g]
        indices += [i for line, _ in self.polylines for i in line]
        if any(not 0 <= i < n for i in indices):
            raise SchemaError(f"{where}: an index is outside 0..{n - 1}")

    @property
    def has_five_points(self) -> bool:
        """Whether faces of this markup can be aligned by five points (else by their box)."""
        return bool(self.five_point_groups)

    def five_point(self, landmarks: np.ndarray) -> np.ndarray:
        """``(..., N, 2)`` landmarks -> ``(..., 5, 2)`` alignment points (NaN where a group
        has no labelled point)."""
        if not self.has_five_points:
            raise UserError(f"schema {self.name} has no five alignment points: its faces are "
                            f"aligned by their box (data.align: bbox)")
        return _group_means(landmarks, self.five_point_groups)

    def eye_centres(self, landmarks: np.ndarray) -> np.ndarray:
        """``(..., N, 2)`` landmarks -> ``(..., 2, 2)`` left and right eye centres."""
        if not self.eye_centre_groups:
            raise UserError(f"schema {self.name} has no eye_centres")
        return _group_means(landmarks, self.eye_centre_groups)

    def point_label(self, index: int) -> str:
        """Point ``index``'s name, else its index as text (for drawings and messages)."""
        return self.point_names[index] if self.point_names else str(index)

    def unusable_because(self, landmarks: np.ndarray, five_point_alignment: bool
                         ) -> Optional[str]:
        """Why a face with these ``(N, 2)`` landmarks (NaN: not labelled) cannot be aligned or
        scored, or None: each alignment group needs a labelled point (with
        ``five_point_alignment``), the normaliser its points, and the face two labelled points."""
        labelled = np.isfinite(np.asarray(landmarks, dtype=np.float64)).all(axis=-1)
        if labelled.sum() < 2:
            return f"{int(labelled.sum())} of {self.num_points} points are labelled"
        needs: List[Tuple[str, Group]] = []
        if five_point_alignment:
            parts = ("left eye", "right eye", "nose tip", "left mouth corner",
                     "right mouth corner")
            needs += [(f"alignment point {p}", g) for p, g in zip(parts, self.five_point_groups)]
        if self.normaliser == "inter_ocular":
            needs += [(f"outer eye corner {self.point_label(i)}", (i,))
                      for i in self.outer_eye_corners]
        if self.normaliser == "inter_pupil":
            needs += [(f"eye centre {side}", g)
                      for side, g in zip(("left", "right"), self.eye_centre_groups)]
        missing = [what for what, group in needs if not labelled[list(group)].any()]
        if missing:
            return f"not labelled: {', '.join(missing)}"
        return None

    def to_dict(self) -> Dict[str, Any]:
        """The schema-file mapping (what :func:`schema_from_dict` reads back)."""
        def entry(group: Group):
            return group[0] if len(group) == 1 else list(group)

        out: Dict[str, Any] = {"name": self.name, "num_points": self.num_points}
        if self.point_names:
            out["points"] = list(self.point_names)
        out["flip_pairs"] = [[i, j] for i, j in enumerate(self.flip_perm) if i < j]
        if self.five_point_groups:
            out["five_points"] = [entry(g) for g in self.five_point_groups]
        if self.outer_eye_corners is not None:
            out["outer_eye_corners"] = list(self.outer_eye_corners)
        if self.eye_centre_groups:
            out["eye_centres"] = [entry(g) for g in self.eye_centre_groups]
        out["normaliser"] = self.normaliser
        if self.polylines:
            out["polylines"] = [{"points": list(line), "closed": closed}
                                for line, closed in self.polylines]
        return out


_REQUIRED = {"name"}
_KNOWN = {"name", "num_points", "points", "flip_pairs", "mirror", "five_points",
          "outer_eye_corners", "eye_centres", "normaliser", "polylines"}


def mirror_pairs(names: Sequence[str], left: str = "left_", right: str = "right_"
                 ) -> List[Tuple[int, int]]:
    """Mirror pairs from point names: ``left_eye`` pairs with ``right_eye`` (the prefixes, or
    the same words anywhere in a name, e.g. ``eye_left`` with ``eye_right``)."""
    index = {name: i for i, name in enumerate(names)}
    pairs = []
    for i, name in enumerate(names):
        if left in name:
            j = index.get(name.replace(left, right, 1))
            if j is not None and j != i:
                pairs.append((i, j))
    return pairs


def schema_from_dict(spec: Mapping[str, Any], where: str = "schema") -> LandmarkSchema:
    """A schema from its schema-file mapping (see docs/custom-landmarks.md for the keys).

    ``num_points`` or ``points`` (the names) give the count; any index may be given as a
    point's name. ``flip_pairs`` lists the mirror pairs; ``mirror: {left: left_, right:
    right_}`` derives them from the names instead (both may be given). ``five_points`` (five
    entries, each a point or a list averaged) makes five-point alignment possible; without
    it faces are aligned by their box. ``normaliser`` (``bbox`` by default) says what NME
    divides by.
    """
    if not isinstance(spec, Mapping):
        raise SchemaError(f"{where}: expected a mapping of schema keys")
    unknown, missing = sorted(set(spec) - _KNOWN), sorted(_REQUIRED - set(spec))
    if unknown or missing or not ({"num_points", "points"} & set(spec)):
        missing += [] if {"num_points", "points"} & set(spec) else ["num_points or points"]
        raise SchemaError(f"{where}: unknown keys {unknown}, missing keys {missing}; "
                          f"expected {sorted(_KNOWN)}")
    names = tuple(str(n) for n in spec.get("points") or ())
    n = spec.get("num_points", len(names))
    if isinstance(n, bool) or not isinstance(n, int):
        raise SchemaError(f"{where}: num_points must be a whole number, got {n!r}")
    if names and n != len(names):
        raise SchemaError(f"{where}: num_points is {n} but {len(names)} points are named")
    by_name = {name: i for i, name in enumerate(names)}

    def point(value) -> int:
        if isinstance(value, str):
            if value not in by_name:
                raise SchemaError(f"{where}: no point is named {value!r}"
                                  + ("" if names else " (the file names no points)"))
            return by_name[value]
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{where}: a point must be an index or a name, got {value!r}")
        return value

    def group(entry) -> Group:
        return tuple(point(i) for i in (entry if isinstance(entry, list) else [entry]))

    def polyline(entry) -> Tuple[Group, bool]:
        if isinstance(entry, Mapping):
            if not isinstance(entry.get("points"), list):
                raise SchemaError(f"{where}: a polyline mapping needs points: [...]")
            return group(list(entry["points"])), bool(entry.get("closed", False))
        return group(entry), False

    pairs = [tuple(point(i) for i in pair) for pair in spec.get("flip_pairs") or []]
    if any(len(pair) != 2 for pair in pairs):
        raise SchemaError(f"{where}: each flip pair needs two points")
    rule = spec.get("mirror")
    if rule is not None:
        if not names:
            raise SchemaError(f"{where}: mirror derives pairs from point names; give points")
        rule = rule if isinstance(rule, Mapping) else {}
        paired = {i for pair in pairs for i in pair}
        pairs += [p for p in mirror_pairs(names, str(rule.get("left", "left_")),
                                          str(rule.get("right", "right_")))
                  if not paired & set(p)]
    corners = spec.get("outer_eye_corners")
    if corners is not None and (not isinstance(corners, list) or len(corners) != 2):
        raise SchemaError(f"{where}: outer_eye_corners needs two points, got {corners!r}")
    try:
        return LandmarkSchema(
            name=str(spec["name"]), num_points=n, flip_perm=perm_from_pairs(n, pairs),
            five_point_groups=tuple(group(e) for e in spec.get("five_points") or []),
            outer_eye_corners=None if corners is None else tuple(point(i) for i in corners),
            eye_centre_groups=tuple(group(e) for e in spec.get("eye_centres") or []),
            polylines=tuple(polyline(e) for e in spec.get("polylines") or []),
            point_names=names, normaliser=str(spec.get("normaliser", "bbox")))
    except SchemaError as err:  # the dataclass's checks name the schema, not the file
        message = str(err)
        raise SchemaError(message if message.startswith(f"{where}:")
                          else f"{where}: {message}") from None


def read_schema_file(path: str) -> LandmarkSchema:
    """Read a schema file (YAML); errors name the file."""
    if not os.path.isfile(path):
        raise SchemaError(f"{path}: schema file does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            spec = yaml.safe_load(f) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "a parse error"
        raise SchemaError(f"{path}: not valid YAML ({problem}{at})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SchemaError(f"{path}: cannot be read ({err})") from None
    return schema_from_dict(spec, path)


class SchemaRegistry:
    """Built-in schemas (``data/schemas/NAME.yaml``) plus the ones a user registers."""

    def __init__(self):
        self._schemas: Dict[str, LandmarkSchema] = {
            name: read_schema_file(os.path.join(SCHEMA_DIR, f"{name}.yaml"))
            for name in BUILTIN_NAMES}

    def get(self, name: str) -> LandmarkSchema:
        if name not in self._schemas:
            raise UserError(f"unknown landmark schema {name!r}; expected one of "
                            f"{sorted(self._schemas)}, or a schema file (.yaml)")
        return self._schemas[name]

    def register(self, schema: LandmarkSchema) -> LandmarkSchema:
        self._schemas[schema.name] = schema
        return schema

    def names(self) -> List[str]:
        return sorted(self._schemas)


REGISTRY = SchemaRegistry()
JD106, W300_68, WFLW98 = (REGISTRY.get(name) for name in BUILTIN_NAMES)


def get_schema(name: str) -> LandmarkSchema:
    """``jd106``, ``300w68``, ``wflw98`` or a schema registered with :func:`load_schema`."""
    return REGISTRY.get(name)


def load_schema(path: str, register: bool = True) -> LandmarkSchema:
    """Read a schema file and (by default) register it under its name."""
    schema = read_schema_file(path)
    return REGISTRY.register(schema) if register else schema


def resolve_schema(value: Any, where: str = "data.schema") -> LandmarkSchema:
    """A schema from what a config's ``data.schema`` holds: a built-in's or a registered
    schema's name, the path of a schema file, or the schema's mapping itself (a run folder's
    config carries its schema so)."""
    if isinstance(value, Mapping):
        return schema_from_dict(value, where)
    if not isinstance(value, str):
        raise SchemaError(f"{where}: expected a schema name, a .yaml file or a mapping, "
                          f"got {value!r}")
    if value in REGISTRY.names():
        return get_schema(value)
    path = os.path.expanduser(value)
    if not (path.endswith((".yaml", ".yml")) or os.path.isfile(path)):
        raise SchemaError(f"{where}: {value!r} is neither a schema ({REGISTRY.names()}) nor a "
                          f"schema file (.yaml)")
    return read_schema_file(path)
