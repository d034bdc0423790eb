"""What a detector's false calls sit on, by the synthetic slides' truth.

The mistakes gallery shows the false calls; this counts them by the object each
lies on: one of the generator's imposters, a confounder of a named kind
(pyknotic, hyperchromatic, plasma cell, lymphocyte cluster...), or nothing the
truth lists (an ordinary nucleus or tissue). Which of these a detector calls
says which negatives its training lacks: on scanner C the detectors of issue 12
called ordinary tumour nuclei, not the listed look-alikes.
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
