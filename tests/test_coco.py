"""Training on one's own landmarks: schema files, the COCO-keypoints reader, unlabelled points
left out of the loss and the metrics, and the whole workflow on a custom markup (train, export,
predict) and on 300-W's 68 points read as COCO."""
import json
import os

import numpy as np
import pytest

from lotr_gluon.config import load_config
from lotr_gluon.data import coco, jd106, w300
from lotr_gluon.data.data_config import DataConfig
from lotr_gluon.data.dataset import open_dataset
from lotr_gluon.data.detector import Face
from lotr_gluon.data.landmarks import JD106, W300_68, load_schema, read_schema_file
from lotr_gluon.data.samples import Sample
from lotr_gluon.data.synthetic import write_synthetic_dataset
from lotr_gluon.data.align import to_photo
from lotr_gluon.data.image_file import read_image_file
from lotr_gluon.metrics import mean_shape, nme

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 21 named points picked from JD-106 (index in JD-106, name): the mirror pairs come from the
# left_/right_ prefixes, the reference below from JD-106's own table.
FACE21 = [(0, "left_jaw"), (16, "chin"), (32, "right_jaw"),
          (33, "left_brow_outer"), (37, "left_brow_inner"), (42, "right_brow_inner"),
          (46, "right_brow_outer"), (51, "nose_bridge"), (54, "nose_tip"),
          (58, "left_nostril"), (62, "right_nostril"), (66, "left_eye_outer"),
          (70, "left_eye_inner"), (74, "left_eye_centre"), (75, "right_eye_inner"),
          (79, "right_eye_outer"), (83, "right_eye_centre"), (84, "left_mouth"),
          (87, "upper_lip"), (90, "right_mouth"), (93, "lower_lip")]
FACE21_YAML = """name: face21
points: [{names}]
mirror: {{left: left_, right: right_}}
five_points: [left_eye_centre, right_eye_centre, nose_tip, left_mouth, right_mouth]
outer_eye_corners: [left_eye_outer, right_eye_outer]
normaliser: inter_ocular
polylines:
  - [left_jaw, chin, right_jaw]
  - {{points: [left_eye_outer, left_eye_inner], closed: false}}
"""
# The 68 points of 300-W picked from JD-106 so that JD-106's mirror table becomes 300-W's:
# every other contour point, the upper brows, the nose bridge, five of the lower nose, six
# points of each eye, all the lips.
TO_300W = (list(range(0, 33, 2)) + list(range(33, 38)) + list(range(42, 47))
           + list(range(51, 55)) + [58, 59, 60, 61, 62] + [66, 67, 69, 70, 71, 73]
           + [75, 76, 78, 79, 80, 82] + list(range(84, 104)))
# The demo's recipe on 64 px crops, 200 iterations (as tests/test_learning.py).
OVERRIDES = ["model.input_size=64", "train.batch_size=8", "data.workers=0", "train.epochs=100",
             "train.checkpoint_every=100", "train.val_every=100", "train.warmup_iters=10",
             "model.dropout=0.0", "data.augment.flip=0.0", "model.backbone_weights=none"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    write_synthetic_dataset(root, 20, seed=7, workers=1, progress=False)
    return root


def _face21(tmp_path) -> str:
    path = tmp_path / "face21.yaml"
    path.write_text(FACE21_YAML.format(names=", ".join(name for _, name in FACE21)))
    return str(path)


def test_a_schema_file_with_names_and_a_mirror_rule(tmp_path):
    schema = read_schema_file(_face21(tmp_path))
    picked = [i for i, _ in FACE21]
    # JD-106's mirror table restricted to the 21 points, renumbered.
    expected = [picked.index(JD106.flip_perm[i]) for i in picked]
    assert list(schema.flip_perm) == expected
    assert schema.five_point_groups == ((13,), (16,), (8,), (17,), (19,))
    assert schema.outer_eye_corners == (11, 15) and schema.normaliser == "inter_ocular"
    assert schema.polylines == (((0, 1, 2), False), ((11, 12), False))
    assert read_schema_file(_face21(tmp_path)).to_dict() == schema.to_dict()


def test_the_built_in_schemas_are_schema_files_that_read_back(tmp_path):
    # The flip tables themselves are checked against the markups in test_landmarks.py.
    for schema in (JD106, W300_68):
        path = tmp_path / f"{schema.name}.yaml"
        path.write_text(json.dumps(schema.to_dict()))  # JSON is YAML
        again = load_schema(str(path), register=False)
        assert again == schema
    assert JD106.normaliser == "bbox" and W300_68.normaliser == "inter_ocular"


def _coco_face(landmarks, hidden=()):
    points = np.array(landmarks, dtype=np.float64)
    points[list(hidden)] = np.nan
    return points


def test_the_reader_takes_visibility_boxes_several_faces_and_names_each_problem(
        tmp_path, synthetic):
    schema = read_schema_file(_face21(tmp_path))
    picked = [i for i, _ in FACE21]
    samples, _ = jd106.scan(os.path.join(synthetic, "train"))
    a, b = samples[0], samples[1]
    faces = [Sample(a.image_path, _coco_face(a.landmarks[picked], hidden=[0, 20]), a.rect),
             Sample(a.image_path, _coco_face(b.landmarks[picked])),  # a second face, same photo
             Sample(b.image_path, _coco_face(b.landmarks[picked], hidden=[13]))]  # no left eye
    path = str(tmp_path / "set" / "train.json")
    data = coco.write_coco(faces, schema, path)
    assert data["annotations"][0]["keypoints"][:3] == [0, 0, 0]  # unlabelled: v = 0
    data["annotations"].append({"id": 9, "image_id": 1, "category_id": 1, "keypoints": [1, 2]})
    data["images"].append({"id": 5, "file_name": "gone.jpg"})
    data["annotations"].append({"id": 10, "image_id": 5, "category_id": 1,
                                "keypoints": data["annotations"][1]["keypoints"]})
    with open(path, "w") as f:
        json.dump(data, f)

    found, problems = coco.scan(path[:-len(".json")], schema=schema)  # .json may be left out
    assert len(found) == 2 and found[0].image_path == found[1].image_path == a.image_path
    assert np.isnan(found[0].landmarks[[0, 20]]).all()
    np.testing.assert_allclose(found[0].landmarks[1:20], a.landmarks[picked][1:20], atol=1e-3)
    np.testing.assert_allclose(found[0].rect, a.rect, atol=1e-3)
    messages = [str(p) for p in problems]  # in the order of the file
    assert len(messages) == 3
    assert "annotation 3" in messages[0] and "not labelled: alignment point left eye" in \
        messages[0]
    assert "annotation 9" in messages[1] and "expected 21 keypoints (x, y, v), found 0.666667" \
        in messages[1]
    assert "annotation 10 (gone.jpg)" in messages[2] and "photo not found" in messages[2]

    # Without a schema file the category's names give the mirror pairs (box alignment).
    derived = coco.schema_of_file(path)
    assert derived.flip_perm == schema.flip_perm and not derived.has_five_points
    assert derived.point_names == schema.point_names


def test_unlabelled_points_are_left_out_of_the_nme():
    gt = np.array([[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [np.nan, np.nan]]])
    pred = np.array([[[1.0, 0.0], [10.0, 0.0], [10.0, 12.0], [500.0, 500.0]]])
    # mean error (1 + 0 + 2) / 3 over the labelled points, box sqrt(10 * 10)
    assert nme(pred, gt)[0] == pytest.approx(0.1)


def _write_coco_split(synthetic, split, schema, out, hide_every=0):
    picked = [i for i, _ in FACE21] if schema.num_points == 21 else TO_300W
    samples, _ = jd106.scan(os.path.join(synthetic, split))
    faces = []
    for k, s in enumerate(samples):
        hidden = [j for j in (0, 2, 3, 7, 18) if hide_every and (k + j) % hide_every == 0]
        faces.append(Sample(s.image_path, _coco_face(s.landmarks[picked], hidden), s.rect))
    coco.write_coco(faces, schema, os.path.join(out, f"{split}.json"))
    return len(faces)


def test_a_custom_markup_with_unlabelled_points_trains_exports_and_predicts(
        tmp_path, synthetic):
    from lotr_gluon.deploy.export import export_checkpoint
    from lotr_gluon.deploy.predictor import Predictor
    from lotr_gluon.engine.trainer import Trainer

    schema_file = _face21(tmp_path)
    schema = read_schema_file(schema_file)
    data = str(tmp_path / "coco21")
    count = _write_coco_split(synthetic, "train", schema, data, hide_every=3)
    _write_coco_split(synthetic, "val", schema, data)
    cfg = load_config(os.path.join(ROOT, "experiments", "demo_synthetic.yaml"),
                      ["model.name=lotr_m", "data.format=coco", f"data.root={data}",
                       f"data.schema={schema_file}"] + OVERRIDES)
    run = str(tmp_path / "run")
    trainer = Trainer(cfg, run, progress=False, report=lambda _: None)
    assert len(trainer.train_set) == count and trainer.schema.num_points == 21
    labels = np.stack([s.landmarks for s in trainer.train_set.samples])
    assert np.isnan(labels).any()  # some points are unlabelled, and training goes on
    trainer.train_set.cropper.augment = None  # as tests/test_learning.py: the crops themselves
    record = trainer.fit()
    assert np.isfinite(record["mean_shape_loss"])
    assert record["loss"] < 0.5 * record["mean_shape_loss"]  # it learns
    # The run's config carries the schema itself: the file is not needed any more.
    os.remove(schema_file)
    with open(os.path.join(run, "config.yaml")) as f:
        assert "left_eye_centre" in f.read()

    export_dir = str(tmp_path / "export")
    export_checkpoint(run, export_dir)
    val, _ = coco.scan(os.path.join(data, "val.json"), schema=schema)
    truth = val[0].landmarks
    face = Face(np.array(val[0].rect), 1.0, schema.five_point(truth))
    predictor = Predictor(export_dir, detector=lambda image: [face], backend="mxnet")
    assert predictor.schema.point_names == schema.point_names
    (found,) = predictor(val[0].image_path)
    assert found.landmarks.shape == (21, 2)
    # In the photo's frame: nearer the truth than the training faces' mean shape put there.
    _, matrix = predictor.crop(read_image_file(val[0].image_path), face)
    guess = to_photo(mean_shape(trainer.train_set.aligned_landmarks()), matrix[None])[0]
    score = lambda points: nme(points, truth, "inter_ocular", schema)[0]  # noqa: E731
    assert score(found.landmarks) < score(guess)


def _write_300w(synthetic, split, out):
    """300-W's layout (.pts beside each photo) from synthetic faces, 68 of their points."""
    samples, _ = jd106.scan(os.path.join(synthetic, split))
    os.makedirs(out, exist_ok=True)
    for k, s in enumerate(samples):
        name = os.path.join(out, f"face{k:03d}")
        os.symlink(s.image_path, name + ".jpg")
        lines = "\n".join(f"{x:.3f} {y:.3f}" for x, y in s.landmarks[TO_300W])
        with open(name + ".pts", "w") as f:
            f.write(f"version: 1\nn_points: 68\n{{\n{lines}\n}}\n")
    return out


def test_300w_read_as_coco_gives_the_300w_readers_nme(tmp_path, synthetic):
    from lotr_gluon.engine.trainer import Trainer
    from lotr_gluon.evaluate import run_evaluation

    assert [JD106.flip_perm[i] for i in TO_300W] == [TO_300W[j] for j in W300_68.flip_perm]
    folders = {split: _write_300w(synthetic, split, str(tmp_path / "300w" / split))
               for split in ("train", "val")}
    schema_file = str(tmp_path / "300w68.yaml")
    with open(schema_file, "w") as f:
        json.dump(W300_68.to_dict(), f)
    coco_root = str(tmp_path / "coco68")
    for split, folder in folders.items():
        samples, problems = w300.scan(folder)
        assert not problems
        coco.write_coco(samples, W300_68, os.path.join(coco_root, f"{split}.json"))
    short = [o for o in OVERRIDES if not o.startswith("train.epochs")] + [
        "train.epochs=5", "train.checkpoint_every=5", "train.val_every=5"]
    cfg = load_config(os.path.join(ROOT, "experiments", "demo_synthetic.yaml"),
                      ["model.name=lotr_m", "data.format=coco", f"data.root={coco_root}",
                       f"data.schema={schema_file}"] + short)
    run = str(tmp_path / "run68")
    Trainer(cfg, run, progress=False, report=lambda _: None).fit()

    quiet = lambda _: None  # noqa: E731
    as_coco = run_evaluation(run, out_dir=str(tmp_path / "e1"), report=quiet)
    as_300w = run_evaluation(run, data=folders["val"], fmt="300w",
                             out_dir=str(tmp_path / "e2"), report=quiet)
    assert as_coco["normaliser"] == as_300w["normaliser"] == "inter_ocular"
    assert as_coco["num_images"] == as_300w["num_images"] == 2
    for mode in ("no_flip", "flip"):
        assert as_coco[mode]["nme"] == pytest.approx(as_300w[mode]["nme"], rel=1e-6)
    # The inter-ocular NME of the same predictions, computed here from the 300-W files.
    dataset = open_dataset(folders["val"], DataConfig(format="300w"), 64)
    eyes = np.stack([s.landmarks[[36, 45]] for s in dataset.samples])
    assert np.all(np.linalg.norm(eyes[:, 0] - eyes[:, 1], axis=-1) > 0)


def test_exports_of_cvat_and_mmpose_read_and_a_mirrored_schema_is_refused(tmp_path, synthetic):
    from lotr_gluon.data.samples import DatasetError

    schema = read_schema_file(_face21(tmp_path))
    picked = [i for i, _ in FACE21]
    samples, _ = jd106.scan(os.path.join(synthetic, "train"))
    # CVAT: annotations/person_keypoints_default.json beside images/default/NAME.
    root = tmp_path / "cvat"
    (root / "images" / "default").mkdir(parents=True)
    faces = []
    for k, s in enumerate(samples[:3]):
        photo = root / "images" / "default" / f"f{k}.jpg"
        os.symlink(s.image_path, photo)
        faces.append(Sample(str(photo), s.landmarks[picked], s.rect))
    path = str(root / "annotations" / "person_keypoints_default.json")
    data = coco.write_coco(faces, schema, path)
    for image in data["images"]:
        image["file_name"] = os.path.basename(image["file_name"])  # CVAT names the file only
    # mmpose's converters name no keypoints: the schema file gives them.
    data["categories"][0]["keypoints"] = []
    with open(path, "w") as f:
        json.dump(data, f)
    found, problems = coco.scan(path, schema=schema)
    assert len(found) == 3 and not problems
    with pytest.raises(DatasetError, match="no category names its keypoints"):
        coco.scan(path)

    # Names by the subject's side put the image-right eye first: refused, saying what to do.
    spec = schema.to_dict()
    spec["five_points"] = [16, 13, 8, 19, 17]  # right eye first
    mirrored = tmp_path / "mirrored.yaml"
    mirrored.write_text(json.dumps({**spec, "name": "mirrored"}))
    with pytest.raises(DatasetError, match="swap the eyes and the mouth corners"):
        coco.scan(path, schema=read_schema_file(str(mirrored)))


def test_training_refuses_to_mirror_a_markup_without_mirror_pairs(tmp_path, synthetic):
    from lotr_gluon.errors import UserError

    data = str(tmp_path / "coco21")
    schema_file = _face21(tmp_path)
    _write_coco_split(synthetic, "train", read_schema_file(schema_file), data)
    no_pairs = tmp_path / "nopairs.yaml"
    no_pairs.write_text(FACE21_YAML.format(names=", ".join(n for _, n in FACE21))
                        .replace("mirror: {left: left_, right: right_}\n", ""))
    cfg = DataConfig(format="coco", schema=str(no_pairs))
    with pytest.raises(UserError, match="no mirror pairs"):
        open_dataset(os.path.join(data, "train.json"), cfg, 64, augment=True,
                     report=lambda _: None)
    open_dataset(os.path.join(data, "train.json"), cfg, 64, report=lambda _: None)  # no flip
