"""What a detector's mistakes are, by the synthetic slides' truth.

The mistakes gallery shows them; this counts them. A false call by the object
it lies on: one of the generator's imposters, a confounder of a named kind
(pyknotic, hyperchromatic, plasma cell, lymphocyte cluster...), or nothing the
truth lists (an ordinary nucleus or tissue). A missed figure by its phase and
whether it lies in tumour. Which of these a detector gets wrong says what its
training lacks: on scanner C the detectors of issue 12 called ordinary tumour
nuclei, not the listed look-alikes, and missed figures outside the tumour.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.distance import cdist

from algorithm.detection.slide import SlideDetections
from training.datasets.annotations import SlideAnnotations
from training.detector.gallery import mistakes

IMPOSTER = "imposter"
UNLISTED = "none listed"  # no imposter or confounder of the truth within the radius
UNNAMED_FIGURE = "mitosis"  # a missed figure of a truth that records no phases


def false_call_kinds(
    found: list[SlideDetections], truths: list[SlideAnnotations], threshold: float, radius_um: float
) -> dict[str, dict[str, int]]:
    """Per scanner (domain), the false calls at ``threshold`` counted by the nearest imposter or confounder within
    ``radius_um`` (its kind), else ``UNLISTED``; kinds by count, most first. The false calls are the gallery's:
    farther than the radius from every true figure (score_detection's one-to-one matching also counts a second
    call beside a found figure as false)."""
    # each slide's listed objects in microns and their kinds, once
    listed = {truth.slide_path: _listed_um(truth, d.mpp) for d, truth in zip(found, truths, strict=True)}
    counts: dict[str, Counter[str]] = {}
    for call in mistakes(found, truths, threshold, radius_um)[0]:
        objects_um, kinds, scale = listed[call.slide]
        kind = UNLISTED
        if len(objects_um):
            distances = cdist(np.array([call.point]) * scale, objects_um)[0]
            nearest = int(distances.argmin())
            kind = kinds[nearest] if distances[nearest] <= radius_um else UNLISTED
        counts.setdefault(call.domain, Counter())[kind] += 1
    return _by_count(counts)


def missed_kinds(
    found: list[SlideDetections], truths: list[SlideAnnotations], threshold: float, radius_um: float
) -> dict[str, dict[str, int]]:
    """Per scanner (domain), the figures missed at ``threshold`` (the gallery's: no call at or above it within
    ``radius_um``) counted by their phase and place (``SlideAnnotations.mitosis_kinds``), ``UNNAMED_FIGURE`` where
    the truth records none; kinds by count, most first."""
    kinds_at = {truth.slide_path: _kind_by_point(truth) for truth in truths}
    counts: dict[str, Counter[str]] = {}
    for figure in mistakes(found, truths, threshold, radius_um)[1]:
        counts.setdefault(figure.domain, Counter())[kinds_at[figure.slide].get(figure.point, UNNAMED_FIGURE)] += 1
    return _by_count(counts)


def _kind_by_point(truth: SlideAnnotations) -> dict[tuple[float, float], str]:
    """Each mitosis's kind by its point (the missed figures' points are the truth's own); empty without kinds."""
    if not truth.mitosis_kinds:
        return {}
    points = [(float(x), float(y)) for x, y in truth.mitoses]
    return dict(zip(points, truth.mitosis_kinds, strict=True))


def _by_count(counts: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    """Domains by name, each one's kinds by count (most first), then by name."""
    return {domain: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for domain, c in sorted(counts.items())}


def _listed_um(
    truth: SlideAnnotations, mpp: tuple[float, float]
) -> tuple[NDArray[np.float64], list[str], NDArray[np.float64]]:
    """The imposters and confounders a slide's truth lists, ``(K, 2)`` in microns, their kinds ("confounder" where
    the truth names none), and the slide's microns per pixel."""
    scale = np.asarray(mpp, np.float64)
    objects = np.concatenate([truth.imposters, truth.confounders]).reshape(-1, 2)
    named = list(truth.confounder_kinds)
    kinds = [IMPOSTER] * len(truth.imposters) + named + ["confounder"] * (len(truth.confounders) - len(named))
    return objects * scale, kinds, scale
