"""The mistakes counted by the synthetic truth: false calls by what lies there, missed figures by phase and place
(training/detector/mistake_kinds.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.training.detector.conftest import detections_at
from training.datasets.annotations import IMPOSTER as IMPOSTER_LABEL
from training.datasets.annotations import MITOSIS, SlideAnnotations
from training.detector.mistake_kinds import IMPOSTER, UNLISTED, UNNAMED_FIGURE, false_call_kinds, missed_kinds


def _truth(path: Path, domain: str, confounders: list[tuple[float, float]], kinds: list[str]) -> SlideAnnotations:
    points = np.array([(100.0, 100.0), (400.0, 100.0)])  # a mitosis, an imposter
    labels = np.array([MITOSIS, IMPOSTER_LABEL], np.int64)
    return SlideAnnotations(
        "s", 800, 600, points, labels, domain=domain, path=path,
        confounders=np.array(confounders, np.float64).reshape(-1, 2), confounder_kinds=kinds,
    )  # fmt: skip


def test_false_calls_are_counted_by_the_imposter_or_confounder_they_lie_on(tmp_path: Path) -> None:
    truth = _truth(tmp_path / "a", "C", [(600, 300), (200, 500), (700, 500)], ["pyknotic", "plasma", "pyknotic"])
    # a hit, a call on the imposter (5 um off at 0.25 um/px), on each pyknotic, one in empty tissue, one on the
    # plasma cell below the threshold
    found = detections_at(
        [(100, 100), (420, 100), (600, 300), (705, 500), (300, 300), (200, 500)],
        [0.9, 0.8, 0.8, 0.7, 0.9, 0.3],
        [1, 1, 1, 1, 1, 1],
    )
    other = _truth(tmp_path / "b", "D", [], [])
    on_other = detections_at([(400, 140)], [0.6], [1])  # 10 um from the imposter: farther than 7.5, none listed
    kinds = false_call_kinds([found, on_other], [truth, other], threshold=0.5, radius_um=7.5)
    assert kinds == {"C": {"pyknotic": 2, IMPOSTER: 1, UNLISTED: 1}, "D": {UNLISTED: 1}}
    assert list(kinds["C"]) == ["pyknotic", IMPOSTER, UNLISTED]  # most first, then by name


def test_confounders_without_kinds_count_as_confounders(tmp_path: Path) -> None:
    truth = _truth(tmp_path / "a", "C", [(600, 300)], [])
    assert false_call_kinds([detections_at([(600, 300)], [0.9], [1])], [truth], 0.5, 7.5) == {"C": {"confounder": 1}}


def test_missed_figures_are_counted_by_phase_and_place(tmp_path: Path) -> None:
    points = np.array([(100.0, 100.0), (300.0, 100.0), (500.0, 100.0), (700.0, 100.0)])
    kinds = ["telophase, outside tumour", "metaphase, in tumour", "telophase, outside tumour", "anaphase, in tumour"]
    truth = SlideAnnotations("s", 800, 600, points, np.full(4, MITOSIS), domain="C", path=tmp_path / "a")
    truth.mitosis_kinds = kinds
    # the metaphase found; the first telophase called below the threshold; the anaphase's call 10 um off (too far)
    found = detections_at([(300, 100), (100, 100), (700, 140)], [0.9, 0.4, 0.9], [1, 1, 1])
    unnamed = SlideAnnotations("t", 800, 600, points[:1], np.full(1, MITOSIS), domain="D", path=tmp_path / "b")
    missed = missed_kinds([found, detections_at([], [], [])], [truth, unnamed], threshold=0.5, radius_um=7.5)
    assert missed == {"C": {"telophase, outside tumour": 2, "anaphase, in tumour": 1}, "D": {UNNAMED_FIGURE: 1}}
