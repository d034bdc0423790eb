"""The F1's bootstrap interval over slides."""

from __future__ import annotations

import pytest

from training.detector.interval import f1_interval, with_interval
from training.detector.validate import DetectionScore


def _score(per_slide: list[tuple[int, int, int]], weight: float = 1.0) -> DetectionScore:
    score = DetectionScore(weight=weight)
    for k, (tp, fp, fn) in enumerate(per_slide):
        score.tp, score.fp, score.fn = score.tp + tp, score.fp + fp, score.fn + fn
        score.per_slide.append({"slide": f"s{k}", "domain": "C", "tp": tp, "fp": fp, "fn": fn})
    return score


def test_slides_that_agree_give_no_width() -> None:
    score = _score([(8, 1, 1)] * 6)
    assert f1_interval(score) == pytest.approx((score.f1, score.f1))


def test_the_interval_holds_the_f1_and_widens_when_slides_disagree() -> None:
    close = _score([(8, 1, 1), (7, 2, 1), (8, 2, 2), (9, 1, 0)])
    apart = _score([(10, 0, 0), (2, 6, 6), (9, 1, 0), (3, 5, 5)])
    for score in (close, apart):
        low, high = f1_interval(score)
        assert low <= score.f1 <= high
    assert f1_interval(apart)[1] - f1_interval(apart)[0] > 3 * (f1_interval(close)[1] - f1_interval(close)[0])


def test_the_interval_is_deterministic_and_weights_true_figures_as_the_score_does() -> None:
    score = _score([(8, 4, 1), (5, 6, 3), (9, 2, 0)], weight=0.25)
    assert f1_interval(score) == f1_interval(score)
    low, high = f1_interval(score)
    assert low <= score.f1 <= high
    alike = _score([(8, 4, 1)] * 3, weight=0.25)  # true figures count a quarter: 2 * 6 / (2 * 6 + 12 + 0.75)
    assert f1_interval(alike) == pytest.approx((alike.f1, alike.f1)) and alike.f1 == pytest.approx(12 / 24.75)


def test_no_slides_is_the_score_itself_and_the_report_carries_the_interval() -> None:
    assert f1_interval(DetectionScore()) == (1.0, 1.0)
    report = with_interval(_score([(8, 1, 1), (6, 3, 2)]))
    assert report["tp"] == 14 and len(report["f1_interval"]) == 2
