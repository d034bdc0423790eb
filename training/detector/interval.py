"""How sure a detector's F1 is: a bootstrap interval over slides.

A held-out set at real mitotic density holds few figures (the recipe's four
scanner-C test slides, about 30): a model's F1 there moves by 0.05-0.1 when
two or three figures change side, and two detectors' scores on it can rank
them otherwise than a fresh set of slides from the same scanner does. Slides,
not figures, are resampled: a slide's figures share its stain, tissue and
scanner, so they are not independent draws. Deterministic (a fixed seed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.detector.validate import DetectionScore

RESAMPLES = 2000
LEVEL = 0.95
INTERVAL_DESCRIPTION = f"{LEVEL:.0%} bootstrap interval over slides ({RESAMPLES} resamples)"


def f1_interval(
    score: DetectionScore, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0
) -> tuple[float, float]:
    """The central ``level`` interval of F1 over ``resamples`` sets of slides drawn with replacement from
    ``score.per_slide``, each scored as :class:`DetectionScore` scores (counts summed, true figures
    weighted by ``score.weight``); (F1, F1) without slides."""
    if not score.per_slide:
        return score.f1, score.f1
    counts = np.array([[s["tp"], s["fp"], s["fn"]] for s in score.per_slide], dtype=np.int64)
    picks = np.random.default_rng(seed).integers(0, len(counts), size=(resamples, len(counts)))
    f1 = [DetectionScore(tp, fp, fn, weight=score.weight).f1 for tp, fp, fn in counts[picks].sum(axis=1).tolist()]
    low, high = np.quantile(f1, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def with_interval(score: DetectionScore) -> dict[str, Any]:
    """``score.as_dict()`` and its F1's interval (``f1_interval``: [low, high], see :func:`f1_interval`)."""
    return {**score.as_dict(), "f1_interval": list(f1_interval(score))}
