"""The Predictor's refinement: each pass re-aligns a face from the landmarks just predicted.

A bright square stands for a face, and a stand-in network follows it only halfway: a face cut
``d`` pixels off in the crop comes back ``d / 2`` off, as a model trained on aligned faces
under-shoots a misaligned one. Each pass then halves the error, by hand: ``d / 2``, ``d / 4``,
``d / 8``.
"""
import numpy as np
import pytest

from lotr_gluon.data.crop_spec import CropSpec
from lotr_gluon.data.detector import Face
from lotr_gluon.data.landmarks import get_schema
from lotr_gluon.deploy.predictor import Predictor
from lotr_gluon.errors import UserError

SCHEMA = get_schema("jd106")
SIZE = 96  # the crop side: the square stays inside it at the offsets below
SHAPE = np.random.RandomState(0).uniform(-15, 15, (106, 2))  # landmarks around the centre
CENTRE = np.array([100.0, 60.0])  # the square's centre in the photo
OFF = np.array([16.0, -8.0])  # the detector's error, px; each halving stays whole pixels


class _HalfwayModel:
    """What Predictor.__call__ needs: a detector off by OFF, and a network that sees the
    square's centre ``c`` in the crop and answers ``SHAPE`` around ``SIZE / 2 + (c - SIZE / 2)
    / 2``."""

    def __init__(self, refine: int):
        self.crop_spec = CropSpec(SIZE).with_template(SCHEMA.five_point(SHAPE) + SIZE / 2)
        self.schema, self.refine, self.flip = SCHEMA, refine, False
        self.centres = []  # where the square sat in each crop, pass by pass

    def detector(self, image):
        return [Face(np.r_[CENTRE - 20, CENTRE + 20], 0.9,
                     SCHEMA.five_point(SHAPE) + CENTRE + OFF)]

    def predict_crops(self, crops):
        out = []
        for crop in crops:
            ys, xs = np.nonzero(crop[0] > 128)
            centre = np.array([xs.mean(), ys.mean()])
            self.centres.append(centre)
            out.append(SHAPE + SIZE / 2 + (centre - SIZE / 2) / 2)
        return np.stack(out)

    crop = Predictor.crop
    __call__ = Predictor.__call__


def _photo():
    image = np.zeros((120, 200, 3), np.uint8)
    x, y = CENTRE.astype(int)
    image[y - 20:y + 21, x - 20:x + 21] = 255  # 41 px: its pixels centre on CENTRE
    return image


@pytest.mark.parametrize("refine", [0, 1, 2])
def test_each_pass_realigns_from_the_last_answer_and_halves_the_error(refine):
    model = _HalfwayModel(refine)
    (face,) = model(_photo())
    np.testing.assert_allclose(face.landmarks - (SHAPE + CENTRE),
                               np.tile(OFF / 2 ** (refine + 1), (len(SHAPE), 1)), atol=0.05)
    # pass k cut the square OFF / 2^k from where an aligned crop puts it
    np.testing.assert_allclose(model.centres, [SIZE / 2 - OFF / 2 ** k for k in range(refine + 1)],
                               atol=0.05)
    assert face.box.tolist() == [80, 40, 120, 80] and face.score == 0.9  # the detector's


def test_refining_is_refused_where_it_cannot_work(tmp_path):
    from lotr_gluon.deploy.export import export_symbol

    with pytest.raises(UserError, match="0 or more"):
        Predictor(_box_export(tmp_path, export_symbol), detector=lambda _: [], refine=-1)
    with pytest.raises(UserError, match="aligned by its box"):
        Predictor(_box_export(tmp_path, export_symbol), detector=lambda _: [], refine=1)


def _box_export(tmp_path, export_symbol) -> str:
    import mxnet as mx

    import lotr_gluon

    folder = tmp_path / "box"
    if not folder.exists():
        net = lotr_gluon.get_model("lotr_m", input_size=128)
        net(mx.nd.zeros((1, 3, 128, 128)))
        export_symbol(net, str(folder), "lotr_m", crop=CropSpec(128, "bbox"), trained=False)
    return str(folder)
