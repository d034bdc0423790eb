"""The QC picture's colours stay apart on H&E and under simulated red-green colour blindness."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray

from algorithm.qc import colours

# Machado, Oliveira & Fernandes (2009), severity 1, on linear RGB
SIMULATIONS = {
    "normal": np.eye(3),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
    ),
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
}
EOSIN = (230, 150, 190)
HAEMATOXYLIN = (90, 60, 140)
BLUE_INK = (34, 52, 147)  # the DICOM test slide's marker pen, as its QC picture shows it
GREEN_INK = (48, 147, 126)


def _linear(rgb: ArrayLike) -> NDArray[np.float64]:
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear: NDArray[np.float64]) -> NDArray[np.float64]:
    xyz = (
        np.clip(linear, 0, 1)
        @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
        / np.array([0.95047, 1.0, 1.08883])
    )
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def difference(a: ArrayLike, b: ArrayLike, vision: str) -> float:
    """CIELAB distance (Delta E 1976) between two sRGB colours as seen with ``vision``."""
    m = SIMULATIONS[vision]
    return float(np.linalg.norm(_lab(_linear(a) @ m.T) - _lab(_linear(b) @ m.T)))


def over(colour: colours.Colour, under: colours.Colour, alpha: float) -> NDArray[np.float64]:
    return np.asarray(under, dtype=np.float64) * (1 - alpha) + np.asarray(colour, dtype=np.float64) * alpha


@pytest.mark.parametrize("vision", list(SIMULATIONS))
def test_the_layers_stay_apart_in_every_colour_vision(vision: str) -> None:
    nuclei = [over(colours.NUCLEI, stain, colours.NUCLEI_ALPHA) for stain in (EOSIN, HAEMATOXYLIN)]
    heatmap = [over(colours.HEATMAP, stain, colours.HEATMAP_MAX_ALPHA) for stain in (EOSIN, HAEMATOXYLIN)]
    for axis in (colours.AXIS_LINE, colours.AXIS_CASING):  # the axis line against the nuclei it crosses
        assert min(difference(axis, n, vision) for n in nuclei) > 40
    assert min(difference(h, n, vision) for h, n in itertools.product(heatmap, nuclei)) > 40
    assert difference(heatmap[0], EOSIN, vision) > 40  # a tumour is not another shade of eosin
    assert difference(nuclei[1], HAEMATOXYLIN, vision) > 30  # the mask shows over the nuclei it covers
    assert difference(nuclei[1], BLUE_INK, vision) > 25  # and is not the marker pen's navy
    contour = colours.HEATMAP_CONTOUR  # the 0.5 contour against the heatmap around it and the tissue outline
    assert difference(contour, over(colours.HEATMAP, EOSIN, colours.HEATMAP_MAX_ALPHA / 2), vision) > 25
    assert difference(contour, colours.TISSUE_OUTLINE, vision) > 25
    low, high = (c for _, c in (colours.SCORE_STOPS[0], colours.SCORE_STOPS[-1]))
    assert difference(low, high, vision) > 40  # the figures' lowest and highest scores


def test_magenta_and_blue_would_not_have_stayed_apart() -> None:
    """The check above catches what the audit saw: the old magenta axis over the old blue nuclei mask."""
    old_nuclei = over((0, 40, 255), EOSIN, 0.45)
    assert difference((255, 0, 255), old_nuclei, "normal") > 40
    assert difference((255, 0, 255), old_nuclei, "deuteranopia") < 20
    assert difference((255, 0, 255), old_nuclei, "protanopia") < 20


def test_score_colours_span_the_scores_drawn() -> None:
    first, middle, last = (c for _, c in colours.SCORE_STOPS)
    np.testing.assert_array_equal(colours.score_colours([0.5, 0.75, 1.0], low=0.5), [first, middle, last])
    np.testing.assert_array_equal(colours.score_colours([0.2], low=0.5), [first])  # below the range: clipped
    assert colours.score_colour(0.5) == middle  # without a threshold: 0..1 as before
