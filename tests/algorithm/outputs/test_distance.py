from __future__ import annotations

import json

from algorithm.outputs.distance import distance_measurement


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
