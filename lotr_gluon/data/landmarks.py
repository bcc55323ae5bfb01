"""Landmark schemas: point count, horizontal-flip permutation, alignment and eye points.

Indices are 0-based. "Left" means image-left (the subject's right). ``flip_perm[i]`` is the
index that point ``i`` becomes in the mirrored image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
import yaml

from ..errors import UserError

Group = Tuple[int, ...]


def perm_from_pairs(num_points: int, pairs: Iterable[Sequence[int]]) -> Tuple[int, ...]:
    """A flip permutation from mirror pairs; points in no pair map to themselves."""
    perm = list(range(num_points))
    for a, b in pairs:
        for i in (a, b):
            if not 0 <= i < num_points:
                raise UserError(f"flip pair ({a}, {b}) is outside 0..{num_points - 1}")
        if perm[a] != a or perm[b] != b:
            raise UserError(f"point in flip pair ({a}, {b}) is already paired")
        perm[a], perm[b] = b, a
    return tuple(perm)


@dataclass(frozen=True)
class LandmarkSchema:
    """What the rest of the code needs to know about one landmark markup.

    Attributes
    ----------
    name : str
    num_points : int
    flip_perm : tuple of int
        Point ``i`` of an image is point ``flip_perm[i]`` of its mirror; an involution.
    five_point_groups : 5 tuples of int
        Left eye centre, right eye centre, nose tip, left and right mouth corner, each the mean
        of its group's points (the order of RetinaFace's 5 points and the ArcFace template).
    outer_eye_corners : (int, int)
        For inter-ocular NME.
    eye_centre_groups : 2 tuples of int
        For inter-pupil NME: each eye centre is the mean of its group.
    polylines : tuple of (indices, closed)
        For drawing.
    """

    name: str
    num_points: int
    flip_perm: Tuple[int, ...]
    five_point_groups: Tuple[Group, ...]
    outer_eye_corners: Tuple[int, int]
    eye_centre_groups: Tuple[Group, Group]
    polylines: Tuple[Tuple[Group, bool], ...] = field(default=())

    def __post_init__(self):
        n, perm = self.num_points, self.flip_perm
        if len(perm) != n or sorted(perm) != list(range(n)):
            raise UserError(f"schema {self.name}: flip_perm must be a permutation of 0..{n - 1}")
        if any(perm[perm[i]] != i for i in range(n)):
            raise UserError(f"schema {self.name}: flip_perm must be an involution")
        if len(self.five_point_groups) != 5:
            raise UserError(f"schema {self.name}: five_point_groups needs 5 groups")
        indices = [i for g in self.five_point_groups for i in g] + list(self.outer_eye_corners)
        indices += [i for g in self.eye_centre_groups for i in g]
        indices += [i for line, _ in self.polylines for i in line]
        if any(not 0 <= i < n for i in indices):
            raise UserError(f"schema {self.name}: an index is outside 0..{n - 1}")

    def five_point(self, landmarks: np.ndarray) -> np.ndarray:
        """``(..., N, 2)`` landmarks -> ``(..., 5, 2)`` alignment points."""
        landmarks = np.asarray(landmarks, dtype=np.float64)
        return np.stack([landmarks[..., list(g), :].mean(axis=-2)
                         for g in self.five_point_groups], axis=-2)

    def eye_centres(self, landmarks: np.ndarray) -> np.ndarray:
        """``(..., N, 2)`` landmarks -> ``(..., 2, 2)`` left and right eye centres."""
        landmarks = np.asarray(landmarks, dtype=np.float64)
        return np.stack([landmarks[..., list(g), :].mean(axis=-2)
                         for g in self.eye_centre_groups], axis=-2)


def _chain(start: int, stop: int) -> Group:
    return tuple(range(start, stop + 1))


JD106 = LandmarkSchema(
    name="jd106",
    num_points=106,
    # The JD-landmark (= LaPa) markup; table from the JD challenge's definition.
    flip_perm=tuple([32 - i for i in range(33)] + [
        46, 45, 44, 43, 42, 50, 49, 48, 47, 37, 36, 35, 34, 33, 41, 40, 39, 38,
        51, 52, 53, 54,
        65, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55,
        79, 78, 77, 76, 75, 82, 81, 80, 83, 70, 69, 68, 67, 66, 73, 72, 71, 74,
        90, 89, 88, 87, 86, 85, 84, 95, 94, 93, 92, 91,
        100, 99, 98, 97, 96, 103, 102, 101,
        105, 104]),
    five_point_groups=((74,), (83,), (54,), (84,), (90,)),
    outer_eye_corners=(66, 79),
    eye_centre_groups=((104,), (105,)),
    polylines=((_chain(0, 32), False), (_chain(33, 37), False), (_chain(38, 41), False),
               (_chain(42, 46), False), (_chain(47, 50), False), (_chain(51, 54), False),
               (_chain(55, 65), False), (_chain(66, 73), True), (_chain(75, 82), True),
               (_chain(84, 95), True), (_chain(96, 103), True)),
)

W300_68 = LandmarkSchema(
    name="300w68",
    num_points=68,
    flip_perm=perm_from_pairs(68, [(i, 16 - i) for i in range(8)] + [
        (17, 26), (18, 25), (19, 24), (20, 23), (21, 22), (31, 35), (32, 34),
        (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
        (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]),
    five_point_groups=(_chain(36, 41), _chain(42, 47), (30,), (48,), (54,)),
    outer_eye_corners=(36, 45),
    eye_centre_groups=(_chain(36, 41), _chain(42, 47)),
    polylines=((_chain(0, 16), False), (_chain(17, 21), False), (_chain(22, 26), False),
               (_chain(27, 30), False), (_chain(31, 35), False), (_chain(36, 41), True),
               (_chain(42, 47), True), (_chain(48, 59), True), (_chain(60, 67), True)),
)

WFLW98 = LandmarkSchema(
    name="wflw98",
    num_points=98,
    flip_perm=perm_from_pairs(98, [(i, 32 - i) for i in range(16)] + [
        (33, 46), (34, 45), (35, 44), (36, 43), (37, 42), (38, 50), (39, 49), (40, 48),
        (41, 47), (55, 59), (56, 58), (60, 72), (61, 71), (62, 70), (63, 69), (64, 68),
        (65, 75), (66, 74), (67, 73), (76, 82), (77, 81), (78, 80), (83, 87), (84, 86),
        (88, 92), (89, 91), (93, 95), (96, 97)]),
    five_point_groups=((96,), (97,), (54,), (76,), (82,)),
    outer_eye_corners=(60, 72),
    eye_centre_groups=((96,), (97,)),
    polylines=((_chain(0, 32), False), (_chain(33, 41), True), (_chain(42, 50), True),
               (_chain(51, 54), False), (_chain(55, 59), False), (_chain(60, 67), True),
               (_chain(68, 75), True), (_chain(76, 87), True), (_chain(88, 95), True)),
)

_BUILTIN: Dict[str, LandmarkSchema] = {s.name: s for s in (JD106, W300_68, WFLW98)}


class SchemaRegistry:
    """Built-in schemas plus the ones a user registers."""

    def __init__(self):
        self._schemas: Dict[str, LandmarkSchema] = dict(_BUILTIN)

    def get(self, name: str) -> LandmarkSchema:
        if name not in self._schemas:
            raise UserError(f"unknown landmark schema {name!r}; expected one of "
                             f"{sorted(self._schemas)} or one registered from YAML")
        return self._schemas[name]

    def register(self, schema: LandmarkSchema) -> LandmarkSchema:
        self._schemas[schema.name] = schema
        return schema

    def names(self) -> List[str]:
        return sorted(self._schemas)


REGISTRY = SchemaRegistry()


def get_schema(name: str) -> LandmarkSchema:
    """``jd106``, ``300w68``, ``wflw98`` or a schema registered with :func:`load_schema`."""
    return REGISTRY.get(name)


def load_schema(path: str, register: bool = True) -> LandmarkSchema:
    """Read a custom schema from YAML and (by default) register it under its name.

    Keys: ``name``, ``num_points``, ``flip_pairs`` (list of [i, j]), ``five_points`` (5 entries,
    each an index or a list of indices averaged), ``outer_eye_corners`` ([i, j]),
    ``eye_centres`` (2 entries like five_points), optional ``polylines`` (lists of indices;
    ``{points: [...], closed: true}`` for closed ones).
    """
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f) or {}
    required = {"name", "num_points", "flip_pairs", "five_points", "outer_eye_corners",
                "eye_centres"}
    known = required | {"polylines"}
    if not isinstance(spec, dict):
        raise UserError(f"{path}: expected a mapping of schema keys")
    unknown = sorted(set(spec) - known)
    missing = sorted(required - set(spec))
    if unknown or missing:
        raise UserError(f"{path}: unknown keys {unknown}, missing keys {missing}; "
                         f"expected {sorted(known)}")

    def group(entry) -> Group:
        return tuple(int(i) for i in (entry if isinstance(entry, list) else [entry]))

    def polyline(entry) -> Tuple[Group, bool]:
        if isinstance(entry, dict):
            return group(entry["points"]), bool(entry.get("closed", False))
        return group(entry), False

    n = int(spec["num_points"])
    schema = LandmarkSchema(
        name=str(spec["name"]), num_points=n,
        flip_perm=perm_from_pairs(n, spec["flip_pairs"] or []),
        five_point_groups=tuple(group(e) for e in spec["five_points"]),
        outer_eye_corners=tuple(int(i) for i in spec["outer_eye_corners"]),
        eye_centre_groups=tuple(group(e) for e in spec["eye_centres"]),
        polylines=tuple(polyline(e) for e in spec.get("polylines") or []))
    return REGISTRY.register(schema) if register else schema

