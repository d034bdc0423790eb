"""Validation at a realistic mitotic density: true figures weighted, the threshold chosen there, per scanner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from algorithm.detection.predict import Candidates
from algorithm.detection.slide import SlideDetections
from tests.conftest import blob_image, write_pyramid_tiff
from training.datasets.annotations import SlideAnnotations
from training.detector.validate import (
    DetectionScore,
    best_threshold,
    density_weight,
    domain_scores,
    mitotic_density,
    slides_tissue_mm2,
)


def _case(domain: str = "A") -> tuple[SlideDetections, SlideAnnotations]:
    """Ten figures: two found at 0.93, eight at 0.52; six false calls at 0.57, far from any figure."""
    truth = np.array([(100.0 * k + 100, 100.0) for k in range(10)])
    false = np.array([(100.0 * k + 100, 1000.0) for k in range(6)])
    scores = np.array([0.93] * 2 + [0.52] * 8 + [0.57] * 6)
    found = Candidates(np.concatenate([truth, false]), scores, np.ones(16, np.int64))
    detections = SlideDetections(found, (0.25, 0.25), tiles=1, tiles_total=1, raw_candidates=16, seconds=0.0)
    labels = np.ones(10, np.int64)
    return detections, SlideAnnotations("s", 2000, 2000, truth, labels, 50.0, domain, "valid", None)


def test_weighted_scores_are_those_at_the_other_density() -> None:
    score = DetectionScore(tp=10, fp=10, fn=10, weight=0.1)
    assert score.precision == pytest.approx(1 / 11)
    assert score.recall == pytest.approx(0.5)
    assert score.f1 == pytest.approx(2 / 13)
    assert score.as_dict()["weight"] == 0.1 and "weight" not in DetectionScore(1, 1, 1).as_dict()


def test_threshold_is_chosen_at_the_density_asked_for() -> None:
    found, truth = _case()
    threshold, score = best_threshold([found], [truth])
    assert threshold == 0.5 and (score.tp, score.fp, score.fn) == (10, 6, 0)
    # at a tenth of the density, six false calls outweigh eight true ones: a stricter threshold wins
    threshold, score = best_threshold([found], [truth], weight=0.1)
    assert threshold == 0.6 and (score.tp, score.fp, score.fn) == (2, 0, 8)


def test_density_is_figures_per_mm2_of_tissue_and_weights_follow(tmp_path: Path) -> None:
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(600, 400), mpp=0.5, tile=64)
    ann = SlideAnnotations(
        "s.tiff", 600, 400, np.array([[240.0, 200.0]] * 3), np.ones(3, np.int64), 25.0, "A", "v", path
    )
    (area,) = slides_tissue_mm2([ann])
    ellipse = np.pi * 150 * 120 * 0.5 * 0.5 / 1e6  # the blob: semi-axes 150 and 120 px at 0.5 um/px
    assert area == pytest.approx(ellipse, rel=0.15)
    assert mitotic_density([ann], [area]) == pytest.approx(3 / area)
    assert density_weight([ann], [area], 4.0) == pytest.approx(4.0 * area / 3)
    assert density_weight([ann], [area], None) == 1.0


def test_domain_scores_weight_each_scanner_by_its_own_density() -> None:
    (fa, ta), (fb, tb) = _case("A"), _case("B")
    scores = domain_scores([fa, fb], [ta, tb], [1.0, 5.0], threshold=0.5, density=4.0)
    assert scores["A"]["density_per_mm2"] == 10.0 and scores["B"]["density_per_mm2"] == 2.0
    assert scores["A"]["weight"] == pytest.approx(0.4) and scores["B"]["weight"] == pytest.approx(2.0)
    assert scores["A"]["precision"] == pytest.approx(4 / 10) and scores["B"]["precision"] == pytest.approx(20 / 26)
    assert scores["A"]["recall"] == scores["B"]["recall"] == 1.0
