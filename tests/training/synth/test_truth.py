from __future__ import annotations

import io
import json
import math

import numpy as np
from PIL import Image
from skimage.draw import ellipse

from training.synth.specials import specials
from training.synth.truth import box_size_px, midog_database, png_bytes, tumour_axis

from .conftest import TUMOUR


def test_box_is_50_px_at_quarter_micron():
    assert box_size_px(0.25) == 50.0
    assert box_size_px(0.5) == 25.0


def test_tumour_axis_of_a_rotated_ellipse():
    mask = np.zeros((400, 500), dtype=bool)
    angle = math.radians(30)
    rr, cc = ellipse(200, 250, 60, 150, rotation=angle)  # semi-axes: rows 60, cols 150, rotated
    mask[rr, cc] = True
    length, ends = tumour_axis(mask, downsample=4, mpp=0.5)
    assert abs(length - 2 * 150 * 4 * 0.5) / (2 * 150 * 4 * 0.5) < 0.02
    (x1, y1), (x2, y2) = ends
    assert abs(math.hypot(x2 - x1, y2 - y1) * 0.5 - length) < 1.0  # endpoints in px, length in um
    assert abs((x1 + x2) / 2 - 250.5 * 4) < 4 and abs((y1 + y2) / 2 - 200.5 * 4) < 4
    # The major axis direction: tilted by 30 degrees from the x axis (either sense).
    direction = abs(math.degrees(math.atan2(y2 - y1, x2 - x1)))
    assert min(abs(direction - 30), abs(direction - 150)) < 2


def test_no_tumour_has_zero_axis():
    assert tumour_axis(np.zeros((10, 10), bool), 4, 0.25) == (0.0, [])


def test_midog_database_has_midog_structure(shared_data):
    reference = json.loads((shared_data / "midog" / "MIDOG.json").read_text())
    db = midog_database("x.tiff", 2560, 1536, specials(TUMOUR), TUMOUR.mpp)
    assert db.keys() == reference.keys()
    assert db["categories"] == reference["categories"]
    assert set(db["info"]) == set(reference["info"])
    assert set(db["licenses"][0]) == set(reference["licenses"][0])
    assert set(db["images"][0]) == set(reference["images"][0])
    assert len(db["annotations"]) == TUMOUR.mitoses + TUMOUR.imposters
    for ann in db["annotations"]:
        assert set(ann) == set(reference["annotations"][0])
        x1, y1, x2, y2 = ann["bbox"]
        assert x2 - x1 == 50 and y2 - y1 == 50
    assert [a["id"] for a in db["annotations"]] == list(range(1, len(db["annotations"]) + 1))


def test_png_masks_are_0_or_255():
    mask = np.zeros((5, 7), bool)
    mask[2, 3] = True
    img = np.asarray(Image.open(io.BytesIO(png_bytes(mask))))
    assert img.dtype == np.uint8 and img.shape == (5, 7)
    assert set(np.unique(img)) == {0, 255} and img[2, 3] == 255
