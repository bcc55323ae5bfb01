"""COCO keypoints files (``data.format: coco``): what CVAT, Label Studio and mmpose write.

One JSON file a split: ``images`` (``id``, ``file_name``), ``annotations`` (``image_id``,
``category_id``, ``bbox`` as x, y, w, h, ``keypoints`` as x, y, visibility triples; several
faces a photo) and ``categories`` (``keypoints``: the point names, ``skeleton``: 1-based pairs).
A point of visibility 0 is not labelled: it is NaN in the sample's landmarks, so the loss and
the metrics leave it out. The landmark schema comes from a schema file (``data.schema``) or,
without one, from the category: its point names, mirror pairs from ``left``/``right`` in the
names, the skeleton for drawing, box alignment and box-normalised NME.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .image_file import image_size
from .landmarks import LandmarkSchema, mirror_pairs, perm_from_pairs
from .samples import DatasetError, Problem, Sample, check_inside, rect_is_valid


def annotation_file(path: str) -> str:
    """The JSON file a split names: ``path`` itself, or ``path.json``."""
    if os.path.isfile(path):
        return path
    if os.path.isfile(path + ".json"):
        return path + ".json"
    raise DatasetError(path, "COCO keypoints file does not exist (give the .json file)")


def read_coco(path: str) -> Dict[str, Any]:
    """The parsed file, with its three lists checked to be there."""
    path = annotation_file(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise DatasetError(path, f"not valid JSON ({err.msg}, line {err.lineno})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(path, f"cannot be read ({err})") from None
    if not isinstance(data, dict):
        raise DatasetError(path, "expected a JSON object with images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(path, f"no {key!r} list: not a COCO keypoints file")
    return data


def keypoint_categories(data: Dict[str, Any], where: str,
                        schema: Optional[LandmarkSchema] = None) -> Tuple[List[str], set]:
    """The point names and the ids of the categories whose faces carry keypoints (one kind of
    keypoints a file). A file whose categories name no keypoints (mmpose's own converters
    write ``keypoints: []``) is read with ``schema``'s points, from its one category."""
    categories = [c for c in data["categories"] if isinstance(c, dict)]
    with_points = [c for c in categories if c.get("keypoints")]
    if not with_points:
        if schema is None or len(categories) != 1:
            raise DatasetError(where, "no category names its keypoints: give a schema file "
                                      "(data.schema, --schema) for the points of its one "
                                      "category")
        return [schema.point_label(i) for i in range(schema.num_points)], \
            {categories[0].get("id")}
    names = {tuple(c["keypoints"]) for c in with_points}
    if len(names) > 1:
        raise DatasetError(where, f"{len(with_points)} categories with different keypoints "
                                  f"({[c.get('name') for c in with_points]}); use one per file")
    return [str(n) for n in with_points[0]["keypoints"]], {c.get("id") for c in with_points}


def schema_from_category(category: Dict[str, Any]) -> LandmarkSchema:
    """A schema from a COCO category alone: its names, mirror pairs from ``left``/``right``
    in the names, its skeleton as lines; box alignment and box-normalised NME."""
    names = tuple(str(n) for n in category["keypoints"])
    pairs = mirror_pairs(names, "left", "right") + mirror_pairs(names, "Left", "Right")
    skeleton = category.get("skeleton") or []
    lines = tuple(((int(a) - 1, int(b) - 1), False) for a, b in skeleton
                  if 1 <= int(a) <= len(names) and 1 <= int(b) <= len(names))
    return LandmarkSchema(name=str(category.get("name") or "coco"), num_points=len(names),
                          flip_perm=perm_from_pairs(len(names), pairs), polylines=lines,
                          point_names=names)


def schema_of_file(path: str) -> LandmarkSchema:
    """The schema a COCO file implies when no schema file is given."""
    return _schema_of(read_coco(path), annotation_file(path))


def _schema_of(data: Dict[str, Any], where: str) -> LandmarkSchema:
    """The schema of a parsed COCO file's keypoint category (one kind, named)."""
    keypoint_categories(data, where)
    return schema_from_category(next(c for c in data["categories"]
                                     if isinstance(c, dict) and c.get("keypoints")))


def _image_folders(json_path: str) -> List[str]:
    """Where ``file_name`` may be relative to: beside the JSON, its images/, and the same one
    level up; and images/SUBSET/ there, as CVAT writes annotations/person_keypoints_SUBSET.json
    beside images/SUBSET/."""
    here = os.path.dirname(os.path.abspath(json_path))
    up = os.path.dirname(here)
    subset = os.path.splitext(os.path.basename(json_path))[0]
    subset = subset[len("person_keypoints_"):] if subset.startswith("person_keypoints_") \
        else subset
    return [here, os.path.join(here, "images"), up, os.path.join(up, "images"),
            os.path.join(here, "images", subset), os.path.join(up, "images", subset)]


def _check_names(schema: LandmarkSchema, names: Sequence[str], where: str) -> None:
    if len(names) != schema.num_points:
        raise DatasetError(where, f"the category has {len(names)} keypoints and schema "
                                  f"{schema.name} {schema.num_points}")
    if schema.point_names and tuple(names) != schema.point_names:
        i = next(i for i, (a, b) in enumerate(zip(names, schema.point_names)) if a != b)
        raise DatasetError(where, f"keypoint {i} is {names[i]!r} in the file and "
                                  f"{schema.point_names[i]!r} in schema {schema.name}")


def scan(path: str, decode: bool = False, schema: Optional[LandmarkSchema] = None,
         five_point_alignment: bool = True) -> Tuple[List[Sample], List[Problem]]:
    """Every face of a COCO keypoints file, and a problem per unusable one.

    A face is unusable when its keypoints are not ``3 * N`` numbers, a labelled point lies far
    outside the photo, the photo is missing, or a point its alignment (with
    ``five_point_alignment``) or its NME normaliser needs is not labelled
    (:meth:`LandmarkSchema.unusable_because`).
    """
    json_path = annotation_file(path)
    data = read_coco(json_path)
    names, category_ids = keypoint_categories(data, json_path, schema)
    schema = schema or _schema_of(data, json_path)
    _check_names(schema, names, json_path)
    n = schema.num_points
    images = {img.get("id"): img for img in data["images"] if isinstance(img, dict)}
    folders = _image_folders(json_path)
    samples, problems, sizes = [], [], {}
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or ann.get("category_id") not in category_ids:
            continue
        image = images.get(ann.get("image_id"))
        name = image.get("file_name") if image else None
        where = f"{json_path}: annotation {ann.get('id', k)}" + (f" ({name})" if name else "")
        try:
            if image is None or not name:
                raise DatasetError(where, f"image_id {ann.get('image_id')!r} is not in images")
            landmarks = _keypoints(ann.get("keypoints"), n, where)
            image_path = next((os.path.normpath(os.path.join(d, name)) for d in folders
                               if os.path.isfile(os.path.join(d, name))), None)
            if image_path is None:
                raise DatasetError(where, f"photo not found in {folders}")
            if image_path not in sizes:
                sizes[image_path] = image_size(image_path, decode)
            check_inside(landmarks, sizes[image_path], where)
            reason = schema.unusable_because(landmarks, five_point_alignment
                                             and schema.has_five_points)
            if reason:
                raise DatasetError(where, f"skipped: {reason}")
        except DatasetError as err:
            problems.append(Problem.from_error(err))
            continue
        samples.append(Sample(image_path, landmarks, _rect(ann.get("bbox"))))
    if five_point_alignment and schema.has_five_points:
        _check_sides(samples, schema, json_path)
    return samples, problems


def _check_sides(samples: Sequence[Sample], schema: LandmarkSchema, where: str) -> None:
    """The five points must run image-left eye first: COCO files name points by the subject's
    side, and a mirrored five-point order cannot be aligned (a similarity does not mirror), so
    a schema that takes the subject's left for the image's left is refused here."""
    if not samples:
        return
    eyes = schema.five_point(np.stack([s.landmarks for s in samples]))[:, :2, 0]  # (M, 2) x
    swapped = int(np.sum(eyes[:, 0] > eyes[:, 1]))
    if swapped > len(samples) / 2:
        raise DatasetError(where, f"the schema's first alignment point (its left eye) lies "
                                  f"right of the second on {swapped} of {len(samples)} faces: "
                                  f"five_points runs image-left eye first (the subject's "
                                  f"right; COCO names points by the subject's side), so swap "
                                  f"the eyes and the mouth corners in {schema.name}'s "
                                  f"five_points")


def _keypoints(values: Any, num_points: int, where: str) -> np.ndarray:
    """``3N`` numbers -> ``(N, 2)``, NaN where visibility is 0."""
    if not isinstance(values, list) or len(values) != 3 * num_points:
        count = len(values) if isinstance(values, list) else 0
        raise DatasetError(where, f"expected {num_points} keypoints (x, y, v), found "
                                  f"{count / 3:g}")
    try:
        triples = np.array(values, dtype=np.float64).reshape(num_points, 3)
    except (TypeError, ValueError):
        raise DatasetError(where, "a keypoint value is not a number") from None
    labelled = triples[:, 2] > 0
    if not np.all(np.isfinite(triples[labelled, :2])):
        raise DatasetError(where, "NaN or infinite coordinate")
    return np.where(labelled[:, None], triples[:, :2], np.nan)


def _rect(bbox: Any) -> Optional[Tuple[float, float, float, float]]:
    """COCO's x, y, w, h -> x1, y1, x2, y2 (None when absent or empty)."""
    try:
        x, y, w, h = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    rect = (x, y, x + w, y + h)
    return rect if rect_is_valid(rect) else None


def write_coco(samples: Sequence[Sample], schema: LandmarkSchema, path: str,
               category: Optional[str] = None) -> Dict[str, Any]:
    """Write ``samples`` as a COCO keypoints file at ``path`` (atomically); photos are named
    relative to the file's folder. NaN points are written as visibility 0, others as 2; a
    face's box is its rect, or its labelled landmarks' box."""
    from ..fileio import atomic_write_text
    from .align import points_box

    folder = os.path.dirname(os.path.abspath(path))
    images: Dict[str, int] = {}
    annotations = []
    for sample in samples:
        image_id = images.setdefault(os.path.abspath(sample.image_path), len(images) + 1)
        x1, y1, x2, y2 = sample.rect if sample.rect is not None else points_box(sample.landmarks)
        keypoints: List[float] = []
        for x, y in np.asarray(sample.landmarks, dtype=np.float64):
            labelled = bool(np.isfinite(x) and np.isfinite(y))
            keypoints += [round(float(x), 3), round(float(y), 3), 2] if labelled else [0, 0, 0]
        annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                            "bbox": [round(float(v), 3) for v in (x1, y1, x2 - x1, y2 - y1)],
                            "keypoints": keypoints, "num_keypoints": sum(keypoints[2::3]) // 2,
                            "iscrowd": 0})
    names = [schema.point_label(i) for i in range(schema.num_points)]
    skeleton = [[int(a) + 1, int(b) + 1] for line, closed in schema.polylines
                for a, b in zip(line, line[1:] + (line[:1] if closed else ()))]
    data = {"images": [{"id": i, "file_name": os.path.relpath(p, folder)}
                       for p, i in images.items()],
            "annotations": annotations,
            "categories": [{"id": 1, "name": category or schema.name, "supercategory": "face",
                            "keypoints": names, "skeleton": skeleton}]}
    os.makedirs(folder, exist_ok=True)
    atomic_write_text(path, json.dumps(data) + "\n")
    return data

