"""What an algorithm may output: points in millimetres with name and probability, likelihoods, lengths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.config import DetectionConfig
from evaluation.errors import EvaluationError
from evaluation.validation import validate_length_mm, validate_points, validate_probability
from tests.evaluation.builders import point, points_value

LABEL = "job 7 (image '007.tiff') output 'mitotic-figures' (mitotic-figures.json)"
SIZE = (1.8, 1.35)


def test_reference_container_output_is_accepted(shared_data):
    value = json.loads((shared_data / "midog" / "reference-output-007.json").read_text())
    cand = validate_points(value, LABEL, DetectionConfig(), None)
    assert cand.xy_mm.shape == (4, 2)
    np.testing.assert_array_equal(cand.positive, [True, True, False, False])
    assert cand.probability[0] == pytest.approx(0.759753406047821)


def test_points_without_z_and_empty_lists_are_accepted():
    cand = validate_points(
        {"points": [{"point": [0.1, 0.2], "name": "mitotic figure", "probability": 1}]}, LABEL, DetectionConfig(), SIZE
    )
    assert cand.xy_mm.tolist() == [[0.1, 0.2]]
    assert validate_points(points_value(), LABEL, DetectionConfig(), SIZE).xy_mm.shape == (0, 2)


@pytest.mark.parametrize(
    "value,message",
    [
        ([point(0.1, 0.1)], "expected a 'Multiple points' JSON object"),
        ({"type": "Multiple boxes", "points": []}, "'type' is 'Multiple boxes'"),
        ({"type": "Multiple points"}, "expected a 'points' list, got no points key"),
        ({"points": {"a": 1}}, "expected a 'points' list, got dict"),
        (points_value([0.1, 0.1]), "point 0 must be an object"),
        (points_value({"point": [0.1, 0.1, 0]}), "point 0 has no name; the old format"),
        (points_value({"point": [0.1, 0.1, 0], "name": "mitotic figure"}), "point 0 has no probability"),
        (
            points_value(point(0.1, 0.1, name="mitosis")),
            "name 'mitosis' is not one of ['mitotic figure', 'non-mitotic figure']",
        ),
        (points_value(point(0.1, 0.1, probability=1.2)), "probability must be a number in [0, 1], got 1.2"),
        (points_value(point(0.1, 0.1, probability=-0.1)), "probability must be a number in [0, 1]"),
        (points_value(point(0.1, 0.1, probability="0.9")), "got '0.9'"),
        (points_value(point(0.1, 0.1, probability=True)), "got True"),
        (
            points_value({"point": ["0.1", 0.1, 0], "name": "mitotic figure", "probability": 0.5}),
            "'point' must be [x_mm, y_mm, z]",
        ),
        (points_value({"point": [0.1], "name": "mitotic figure", "probability": 0.5}), "'point' must be"),
        (
            points_value({"point": [float("nan"), 0.1, 0], "name": "mitotic figure", "probability": 0.5}),
            "finite numbers",
        ),
        (
            points_value(
                point(0.1, 0.1), {"point": [0.1, 0.1, float("inf")], "name": "mitotic figure", "probability": 0.5}
            ),
            "point 1: 'point' must be [x_mm, y_mm, z] with finite numbers",
        ),  # JSON 1e999 parses as inf
        (points_value(point(0.1, 0.1, probability=float("inf"))), "probability must be a number in [0, 1], got inf"),
        (
            points_value(point(0.1, 0.1), point(1523.0, 887.0)),
            "point 1 at (1523, 887) lies outside the image (1.8 x 1.35 mm): "
            "you need to provide the output coordinates in millimetres",
        ),
        (points_value(point(0.1, -0.1)), "lies outside the image"),
    ],
)
def test_bad_points_name_the_problem(value, message):
    with pytest.raises(EvaluationError) as err:
        validate_points(value, LABEL, DetectionConfig(), SIZE)
    assert str(err.value).startswith(LABEL + ": ")
    assert message in str(err.value)


def test_without_image_size_a_generous_bound_catches_pixels():
    config = DetectionConfig()
    near_edge = points_value(point(1.8 + 0.007, 0.5))  # within the radius of the edge: fine
    validate_points(near_edge, LABEL, config, SIZE)
    validate_points(points_value(point(60.0, 20.0)), LABEL, config, None)  # a whole slide, no size given
    with pytest.raises(EvaluationError, match=r"lies outside 100 mm, larger than any slide.*millimetres, not pixels"):
        validate_points(points_value(point(412.0, 300.0), point(900.0, 12.0)), LABEL, config, None)


@pytest.mark.parametrize("value", [0, 0.0, 0.37, 1])
def test_probability_accepts_numbers_in_range(value):
    assert validate_probability(value, LABEL) == float(value)


@pytest.mark.parametrize(
    "value,message",
    [
        (1.5, "must be in [0, 1], got 1.5"),
        (-0.01, "must be in [0, 1]"),
        ("0.5", "got str '0.5'"),
        (None, "got NoneType"),
        (True, "got bool"),
        ([0.5], "got list"),
        ({"probability": 0.5}, "got dict"),
        (float("nan"), "expected a number"),
    ],
)
def test_probability_rejects(value, message):
    with pytest.raises(EvaluationError, match=None) as err:
        validate_probability(value, LABEL)
    assert message in str(err.value)


def test_length():
    assert validate_length_mm(12, LABEL, "mm") == 12.0
    assert validate_length_mm(12500, LABEL, "um") == 12.5
    with pytest.raises(EvaluationError, match="cannot be negative"):
        validate_length_mm(-1.0, LABEL, "mm")
    with pytest.raises(EvaluationError, match="expected a length in millimetres"):
        validate_length_mm("12 mm", LABEL, "mm")
    with pytest.raises(EvaluationError, match="expected a length in micrometres"):
        validate_length_mm(None, LABEL, "um")


def test_length_in_the_wrong_unit_is_refused_against_the_slide_and_the_truth():
    # 13.4 mm written in micrometres where the socket's unit is millimetres:
    with pytest.raises(EvaluationError) as err:
        validate_length_mm(13_400, LABEL, "mm", longest_truth_mm=18.8)
    assert str(err.value) == (
        f"{LABEL}: a length of 13400 mm is longer than any slide (100 mm) and over 100 times the longest "
        "ground-truth length (18.8 mm): you need to provide the length in millimetres (major_axis.unit 'mm'), "
        "not micrometres"
    )
    # nanometres where micrometres belong:
    with pytest.raises(
        EvaluationError, match=r"a length of 1\.34e\+07 um \(13400 mm\) is longer .* not a smaller unit"
    ):
        validate_length_mm(13_400_000, LABEL, "um", longest_truth_mm=18.8)
    # Long but plausible: within the largest slide, or within 100 times the truth.
    assert validate_length_mm(99.0, LABEL, "mm", longest_truth_mm=0.5) == 99.0
    assert validate_length_mm(150.0, LABEL, "mm", longest_truth_mm=2.0) == 150.0
    assert validate_length_mm(13_400, LABEL, "mm") == 13_400.0  # no truth given: no check
