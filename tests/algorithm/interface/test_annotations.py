"""Grand-challenge annotation values: points as MIDOG's reference output has them, lines as the viewer draws them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from algorithm.interface.annotations import distance_measurement, multiple_points


def test_shape_matches_midog_reference_output(shared_data: Path) -> None:
    reference = json.loads((shared_data / "midog" / "reference-output-007.json").read_text())
    ours = multiple_points(np.array([[0.1, 0.2], [0.3, 0.4]]), np.array([0.9, 0.2]), threshold=0.5)
    assert ours["type"] == reference["type"] == "Multiple points"
    assert set(ours["points"][0]) == set(reference["points"][0])
    assert ours["points"][0] == {"name": "mitotic figure", "point": [0.1, 0.2, 0.0], "probability": 0.9}
    assert ours["points"][1]["name"] == "non-mitotic figure"
    assert ours["version"] == {"major": 1, "minor": 0}
    json.dumps(ours, allow_nan=False)


def test_empty() -> None:
    assert multiple_points(np.zeros((0, 2)), np.zeros(0), 0.5)["points"] == []


def test_grand_challenge_distance_measurement() -> None:
    value = distance_measurement((0.5, 0.25), [1.5, 0.75])
    assert value == {
        "name": "Tumour major axis",
        "type": "Distance measurement",
        "start": [0.5, 0.25, 0.0],
        "end": [1.5, 0.75, 0.0],
        "version": {"major": 1, "minor": 0},
    }
    json.dumps(value, allow_nan=False)  # plain floats only
