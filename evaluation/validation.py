"""Checks on what an algorithm produced, with messages a participant can act on.

Every check names the job, image and output (the ``label`` argument) and says
what was expected. Nothing is coerced: a string where a number belongs, a NaN,
a probability outside [0, 1], a 1 where a Bool's ``true`` belongs or a coordinate
that cannot be millimetres fails the evaluation rather than being scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.config import DetectionConfig
from evaluation.errors import EvaluationError
from evaluation.sockets import MILLIMETRES_PER_UNIT

POINTS_TYPE = "Multiple points"


@dataclass(frozen=True)
class Candidates:
    """The points of one case: every candidate, and which are named as the positive class."""

    xy_mm: np.ndarray  # (n, 2) float64
    probability: np.ndarray  # (n,) float64 in [0, 1]
    positive: np.ndarray  # (n,) bool: name == positive_name


_NUMBER_TYPES = (int, float)


def _is_number(value: Any) -> bool:
    # type() not isinstance(): bool is an int subclass and must not pass as a number.
    return type(value) in (int, float) and math.isfinite(value)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_points(value: Any, label: str, config: DetectionConfig, size_mm: tuple[float, float] | None) -> Candidates:
    """A grand-challenge 'Multiple points' value in millimetres, every point named and scored.

    The limit on coordinates is the image size from the ground truth (plus the
    matching radius) when known, else ``config.max_coordinate_mm``: pixel
    coordinates are almost always far beyond either.
    """
    if not isinstance(value, dict):
        raise EvaluationError(
            f"{label}: expected a '{POINTS_TYPE}' JSON object with a 'points' list, got {type(value).__name__}"
        )
    kind = value.get("type")
    if kind is not None and kind != POINTS_TYPE:
        raise EvaluationError(f"{label}: 'type' is {kind!r}, expected '{POINTS_TYPE}'")
    points = value.get("points")
    if not isinstance(points, list):
        raise EvaluationError(
            f"{label}: expected a 'points' list, got {type(points).__name__ if 'points' in value else 'no points key'}"
        )
    names = {config.positive_name: True, **{n: False for n in config.negative_names}}
    n = len(points)
    xy = np.empty((n, 2), dtype=np.float64)
    prob = np.empty(n, dtype=np.float64)
    positive = np.empty(n, dtype=bool)
    z = np.empty(n, dtype=np.float64)
    old_format = (
        "the old format without 'name' and 'probability' is not accepted: give every point "
        f"a name ({', '.join(repr(k) for k in names)}) and a probability in [0, 1]"
    )
    for i, p in enumerate(points):
        # Type checks per point (bool is not a number, strings are not coerced);
        # finiteness and ranges are checked on the arrays afterwards.
        if type(p) is not dict:
            raise EvaluationError(
                f"{label}: point {i} must be an object with 'point', 'name' and 'probability', got {_describe(p)}"
            )
        coords = p.get("point")
        if type(coords) is not list or not 2 <= len(coords) <= 3 or any(type(c) not in _NUMBER_TYPES for c in coords):
            raise EvaluationError(
                f"{label}: point {i}: 'point' must be [x_mm, y_mm, z] with finite numbers, got {_describe(coords)}"
            )
        if "name" not in p or "probability" not in p:
            raise EvaluationError(
                f"{label}: point {i} has no {'name' if 'name' not in p else 'probability'}; {old_format}"
            )
        name = p["name"]
        if type(name) is not str or name not in names:
            raise EvaluationError(f"{label}: point {i}: name {_describe(name)} is not one of {list(names)}")
        pr = p["probability"]
        if type(pr) not in _NUMBER_TYPES:
            raise EvaluationError(f"{label}: point {i}: probability must be a number in [0, 1], got {_describe(pr)}")
        xy[i, 0] = coords[0]
        xy[i, 1] = coords[1]
        z[i] = coords[2] if len(coords) == 3 else 0.0
        prob[i] = pr
        positive[i] = names[name]
    bad = np.flatnonzero(~(np.isfinite(xy).all(axis=1) & np.isfinite(z)))
    if bad.size:
        i = int(bad[0])
        raise EvaluationError(
            f"{label}: point {i}: 'point' must be [x_mm, y_mm, z] with finite numbers, "
            f"got {_describe(points[i].get('point'))}"
        )
    bad = np.flatnonzero(~((prob >= 0.0) & (prob <= 1.0)))
    if bad.size:
        i = int(bad[0])
        raise EvaluationError(
            f"{label}: point {i}: probability must be a number in [0, 1], got {_describe(points[i]['probability'])}"
        )
    if n:
        r = config.radius_mm
        if size_mm is not None:
            limit = np.array([size_mm[0] + r, size_mm[1] + r])
            extent = f"the image ({size_mm[0]:g} x {size_mm[1]:g} mm)"
        else:
            limit = np.array([config.max_coordinate_mm, config.max_coordinate_mm])
            extent = f"{config.max_coordinate_mm:g} mm, larger than any slide"
        bad = np.flatnonzero(np.any((xy < -r) | (xy > limit), axis=1))
        if bad.size:
            i = int(bad[0])
            raise EvaluationError(
                f"{label}: point {i} at ({xy[i, 0]:g}, {xy[i, 1]:g}) lies outside {extent}"
                f"{f' ({bad.size} points do)' if bad.size > 1 else ''}: "
                "you need to provide the output coordinates in millimetres, not pixels"
            )
    return Candidates(xy_mm=xy, probability=prob, positive=positive)


def validate_probability(value: Any, label: str) -> float:
    """A likelihood: one number in [0, 1] (a grand-challenge 'Float' output)."""
    if not _is_number(value):
        raise EvaluationError(f"{label}: expected a number in [0, 1], got {type(value).__name__} {_describe(value)}")
    if not 0.0 <= value <= 1.0:
        raise EvaluationError(f"{label}: probability must be in [0, 1], got {value!r}")
    return float(value)


def validate_bool(value: Any, label: str) -> bool:
    """A slide's call: JSON ``true`` or ``false`` (a grand-challenge 'Bool' output); 1, "true", null are not."""
    if type(value) is not bool:
        raise EvaluationError(
            f"{label}: expected true or false (a 'Bool' output), got {type(value).__name__} {_describe(value)}"
        )
    return value


# A length longer than this (and than LENGTH_RATIO times every ground-truth length) is in the wrong unit:
# a glass slide is 75 x 25 mm, so no tumour's axis is longer.
MAX_LENGTH_MM = 100.0
LENGTH_RATIO = 100.0


def validate_length_mm(value: Any, label: str, unit: str, longest_truth_mm: float | None = None) -> float:
    """A length in ``unit`` ("mm" or "um"): one finite, non-negative number; returned in millimetres.

    ``unit`` has no default: it comes from the socket's definition (``MajorAxisConfig.unit``). With
    ``longest_truth_mm`` (the ground truth's longest length), a length beyond both :data:`MAX_LENGTH_MM` and
    :data:`LENGTH_RATIO` times it is refused as being in the wrong unit (micrometres where millimetres belong
    are 1000 times too long), as coordinates beyond the image are refused as pixels.
    """
    name = {"mm": "millimetres", "um": "micrometres"}[unit]
    if not _is_number(value):
        raise EvaluationError(
            f"{label}: expected a length in {name} (a number), got {type(value).__name__} {_describe(value)}"
        )
    if value < 0:
        raise EvaluationError(f"{label}: a length cannot be negative, got {value!r}")
    length_mm = float(value) * MILLIMETRES_PER_UNIT[unit]
    if longest_truth_mm is not None and length_mm > max(MAX_LENGTH_MM, LENGTH_RATIO * longest_truth_mm):
        smaller = "micrometres" if unit == "mm" else "a smaller unit"
        given = f"{value:g} {unit}" + ("" if unit == "mm" else f" ({length_mm:g} mm)")
        raise EvaluationError(
            f"{label}: a length of {given} is longer than any slide "
            f"({MAX_LENGTH_MM:g} mm) and over {LENGTH_RATIO:g} times the longest ground-truth length "
            f"({longest_truth_mm:g} mm): you need to provide the length in {name} (major_axis.unit {unit!r}), "
            f"not {smaller}"
        )
    return length_mm
