"""Point detection (MIDOG): F1 at a radius, average precision and FROC.

F1, precision and recall follow MIDOG's evaluation exactly: per case,
``grand_challenge_metrics.scorers.score_detection`` (the evalutils scorer)
matches the truth to the predictions within ``radius_mm`` (each truth point,
in order, takes its nearest still-unmatched prediction), on the x, y
coordinates of the points named ``positive_name`` (and, if a ``threshold`` is
configured, with ``probability >= threshold``). TP, FP and FN are summed over
all cases (or all cases of a domain) before precision, recall and F1 are
computed (micro-average).

Average precision and FROC rank *every* candidate (whatever its name) by its
probability. Candidates are matched once, greedily in descending probability
(ties in input order), each to the nearest unmatched truth point within the
radius, as in VOC/COCO detection AP; so the operating points at decreasing
thresholds are nested and the whole curve comes from one matching.
AP is the step-wise area under the precision-recall curve at each distinct
probability, ``sum((R_k - R_{k-1}) * P_k)`` with recall over *all* truth points
(scikit-learn's definition, plus the truth points no candidate reaches).
FROC gives, for each rate of false positives per case, the highest
sensitivity at an operating point with at most that many (0 if none), and
their mean as the FROC score. Both come from the curves
:func:`precision_recall_curve` and :func:`froc_curve` return, which the plots
(:mod:`evaluation.plots`) draw, so a picture cannot disagree with its number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from grand_challenge_metrics.scorers import score_detection

from evaluation.config import DetectionConfig
from evaluation.validation import Candidates


@dataclass(frozen=True)
class DetectionCase:
    """One case's detection counts, kept to sum over cases (MIDOG scores the sums, not per-case means)."""

    case: str
    domain: str | None
    n_truth: int
    true_positives: int
    false_positives: int
    false_negatives: int
    n_candidates: int
    probabilities: np.ndarray  # every candidate's probability
    candidate_hit: np.ndarray  # bool per candidate: matched in the AP/FROC matching


def precision_recall_f1(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    """Precision (None without predictions), recall (None without truth), F1 (1.0 when both are empty)."""
    return {
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1_score": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0,
    }


def match_by_probability(truth_xy: np.ndarray, xy: np.ndarray, probability: np.ndarray, radius: float) -> np.ndarray:
    """Whether each candidate is a hit when matched greedily in descending probability.

    Each candidate, from the most probable down (ties in input order), takes
    the nearest truth point within ``radius`` that no earlier candidate took
    (equal distances: the lower truth index).
    """
    n, m = len(xy), len(truth_xy)
    hit = np.zeros(n, dtype=bool)
    if n == 0 or m == 0:
        return hit
    diff = xy[:, None, :] - truth_xy[None, :, :]
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    rows, cols = np.nonzero(dist <= radius)
    if rows.size == 0:
        return hit
    # Reachable truth points of each candidate, nearest first (stable: lower index on ties).
    order = np.lexsort((dist[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, np.arange(n + 1))
    cols_list = cols.tolist()
    taken = [False] * m
    for i in np.argsort(-probability, kind="stable").tolist():
        for j in cols_list[starts[i] : starts[i + 1]]:
            if not taken[j]:
                taken[j] = True
                hit[i] = True
                break
    return hit


def score_case(
    case: str, domain: str | None, truth_xy: np.ndarray, candidates: Candidates, config: DetectionConfig
) -> DetectionCase:
    """Count one case's true and false positives both ways: by name (F1) and by probability (AP, FROC).

    F1 counts the points named as the positive class (and above ``threshold`` when set), matched
    as MIDOG's evaluation matches them; every candidate is also marked hit or miss when matched in
    descending probability, for AP and FROC over the whole ranking.
    """
    keep = candidates.positive
    if config.threshold is not None:
        keep = keep & (candidates.probability >= config.threshold)
    counts = score_detection(ground_truth=truth_xy, predictions=candidates.xy_mm[keep], radius=config.radius_mm)
    hit = match_by_probability(truth_xy, candidates.xy_mm, candidates.probability, config.radius_mm)
    return DetectionCase(
        case=case,
        domain=domain,
        n_truth=len(truth_xy),
        true_positives=int(counts.true_positives),
        false_positives=int(counts.false_positives),
        false_negatives=int(counts.false_negatives),
        n_candidates=len(candidates.probability),
        probabilities=candidates.probability,
        candidate_hit=hit,
    )


def case_result(result: DetectionCase) -> dict[str, Any]:
    """The case's entry in metrics.json: its counts and the precision, recall and F1 they give alone."""
    return {
        "true_positives": result.true_positives,
        "false_positives": result.false_positives,
        "false_negatives": result.false_negatives,
        **precision_recall_f1(result.true_positives, result.false_positives, result.false_negatives),
        "n_truth": result.n_truth,
        "n_candidates": result.n_candidates,
    }


def operating_points(probabilities: np.ndarray, hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (TP, FP) at each distinct probability, highest first: the points of every curve here."""
    order = np.argsort(-probabilities, kind="stable")
    p, h = probabilities[order], hit[order]
    tp = np.cumsum(h)
    fp = np.cumsum(~h)
    last = np.r_[np.flatnonzero(np.diff(p) != 0), len(p) - 1]
    return tp[last], fp[last]


def precision_recall_curve(probabilities: np.ndarray, hit: np.ndarray, n_truth: int) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at each distinct probability, highest first (empty without candidates).

    Recall is over all ``n_truth`` points (> 0), so truth no candidate reaches keeps it below 1.
    """
    tp, fp = operating_points(probabilities, hit)
    return tp / n_truth, tp / (tp + fp)


def average_precision(probabilities: np.ndarray, hit: np.ndarray, n_truth: int) -> float | None:
    """Step-wise area under precision-recall; None without truth, 0 without candidates."""
    if n_truth == 0:
        return None
    if len(probabilities) == 0:
        return 0.0
    recall, precision = precision_recall_curve(probabilities, hit, n_truth)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def froc_curve(probabilities: np.ndarray, hit: np.ndarray, n_truth: int, n_cases: int) -> tuple[np.ndarray, np.ndarray]:
    """Average false positives per case and sensitivity at each distinct probability, highest first."""
    if len(probabilities) == 0:
        return np.zeros(0), np.zeros(0)
    tp, fp = operating_points(probabilities, hit)
    return fp / n_cases, tp / n_truth


def froc(
    probabilities: np.ndarray, hit: np.ndarray, n_truth: int, n_cases: int, fp_rates: tuple[float, ...]
) -> dict[str, Any]:
    """Sensitivity at each average number of false positives per case, and their mean."""
    if n_truth == 0:
        return {"fp_per_case": list(fp_rates), "sensitivity": [None] * len(fp_rates), "score": None}
    fppc, sens = froc_curve(probabilities, hit, n_truth, n_cases)
    values = []
    for rate in fp_rates:
        ok = fppc <= rate
        values.append(float(sens[ok].max()) if ok.any() else 0.0)
    return {"fp_per_case": list(fp_rates), "sensitivity": values, "score": float(np.mean(values))}


def pooled(results: list[DetectionCase]) -> tuple[np.ndarray, np.ndarray, int]:
    """Every candidate's probability and hit over ``results``, and their truth points: what AP and FROC rank."""
    probs = np.concatenate([r.probabilities for r in results]) if results else np.zeros(0)
    hits = np.concatenate([r.candidate_hit for r in results]) if results else np.zeros(0, bool)
    return probs, hits, sum(r.n_truth for r in results)


def _summary(results: list[DetectionCase]) -> tuple[dict[str, Any], np.ndarray, np.ndarray, int]:
    tp = sum(r.true_positives for r in results)
    fp = sum(r.false_positives for r in results)
    fn = sum(r.false_negatives for r in results)
    probs, hits, n_truth = pooled(results)
    return (
        {
            **precision_recall_f1(tp, fp, fn),
            "true_positives": tp,
            "false_positives": fp,
            "false_negatives": fn,
            "average_precision": average_precision(probs, hits, n_truth),
            "n_cases": len(results),
            "n_truth": n_truth,
        },
        probs,
        hits,
        n_truth,
    )


def by_domain(results: list[DetectionCase]) -> dict[str, list[DetectionCase]]:
    """The cases of each domain (no domain: ``"unspecified"``), domains sorted: ``per_domain``'s grouping."""
    domains = sorted({r.domain or "unspecified" for r in results})
    return {d: [r for r in results if (r.domain or "unspecified") == d] for d in domains}


def aggregate(results: list[DetectionCase], config: DetectionConfig) -> dict[str, Any]:
    """Micro-averaged scores over all cases, FROC, and the same per domain."""
    summary, probs, hits, n_truth = _summary(results)
    out = dict(summary)
    out["froc"] = froc(probs, hits, n_truth, len(results), config.froc_fp_rates)
    out["radius_mm"] = config.radius_mm
    out["threshold"] = config.threshold
    if any(r.domain is not None for r in results):
        out["per_domain"] = {d: _summary(cases)[0] for d, cases in by_domain(results).items()}
    return out
