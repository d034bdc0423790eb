"""The evaluation pipeline: ground truth, jobs, per-case scores, aggregates.

Everything is read and checked before anything is written; the first problem
raises :class:`~evaluation.errors.EvaluationError` and no metrics are produced.
:func:`run_evaluation` also keeps what the aggregates were computed from, so the
plots (:mod:`evaluation.plots`) draw the very numbers behind metrics.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.config import Config
from evaluation.ground_truth import CaseTruth, load_ground_truth
from evaluation.masks import check_same_extent, foreground, read_mask, resample_to
from evaluation.metrics import classification, detection, major_axis, segmentation
from evaluation.predictions import Job, find_image_output, join_to_ground_truth, load_json_output, read_predictions
from evaluation.report import build_metrics
from evaluation.validation import validate_bool, validate_length_mm, validate_points, validate_probability


def _segmentation_counts(job: Job, truth: CaseTruth, config: Config) -> dict[str, int]:
    cfg = config.segmentation
    assert truth.mask_path is not None  # load_ground_truth reads masks when segmentation is enabled
    truth_label = f"ground truth mask {truth.mask_path}"
    truth_mask = read_mask(truth.mask_path, truth_label)
    truth_fg = foreground(truth_mask.array, truth_label)
    path, label = find_image_output(job, cfg.socket)
    pred_mask = read_mask(path, label)
    check_same_extent(pred_mask, label, truth_mask, truth_label)
    pred_fg = foreground(pred_mask.array, label, cfg.threshold)
    on_grid = resample_to(pred_fg, pred_mask.spacing_mm, truth_fg.shape, truth_mask.spacing_mm)
    return segmentation.counts(truth_fg, on_grid)


@dataclass(frozen=True)
class Evaluation:
    """The metrics.json content and the per-case data its aggregates were computed from.

    ``labels``/``likelihoods`` (classification) and ``detection_cases`` are in case order and empty
    when their metric is not enabled; ``predicted_labels`` are the label socket's calls (bool, case
    order), None unless classification is scored with a ``label_socket``; per-case Dice and IoU are
    in ``metrics["results"]``.
    """

    metrics: dict[str, Any]
    config: Config
    detection_cases: list[detection.DetectionCase]
    labels: np.ndarray
    likelihoods: np.ndarray
    predicted_labels: np.ndarray | None = None


def evaluate(input_dir: Path, ground_truth_dir: Path, config: Config) -> dict[str, Any]:
    """Score the submission in ``input_dir``; returns the metrics.json content."""
    return run_evaluation(input_dir, ground_truth_dir, config).metrics


def run_evaluation(input_dir: Path, ground_truth_dir: Path, config: Config) -> Evaluation:
    """Score the submission in ``input_dir``; the metrics and what they were computed from."""
    truth = load_ground_truth(ground_truth_dir, config)
    pairs = join_to_ground_truth(read_predictions(input_dir, config), truth)
    lengths = [c.major_axis_mm for c in truth.cases.values() if c.major_axis_mm is not None]
    longest_truth_mm = max(lengths) if lengths else None

    results: list[dict[str, Any]] = []
    det_cases: list[detection.DetectionCase] = []
    labels, likelihoods, axis_pred, axis_truth, seg_counts = [], [], [], [], []
    calls: list[bool] = []
    for job, case in pairs:
        result: dict[str, Any] = {"case": case.case, "image": job.image_name, "job": job.pk}
        if case.domain is not None:
            result["domain"] = case.domain
        if "detection" in config.metrics:
            cfg = config.detection
            value, label = load_json_output(job, cfg.socket)
            candidates = validate_points(value, label, cfg, case.size_mm)
            assert case.points_mm is not None  # load_ground_truth reads points when detection is enabled
            scored = detection.score_case(case.case, case.domain, case.points_mm, candidates, cfg)
            det_cases.append(scored)
            result["detection"] = detection.case_result(scored)
        if "classification" in config.metrics:
            cfg_c = config.classification
            value, label = load_json_output(job, cfg_c.socket)
            likelihood = validate_probability(value, label)
            call = None
            if cfg_c.label_socket is not None:
                value, label = load_json_output(job, cfg_c.label_socket)
                call = validate_bool(value, label)
                calls.append(call)
            assert case.label is not None  # load_ground_truth reads labels when classification is enabled
            labels.append(case.label)
            likelihoods.append(likelihood)
            result["classification"] = classification.case_result(case.label, likelihood, cfg_c, call)
        if "segmentation" in config.metrics:
            c = _segmentation_counts(job, case, config)
            seg_counts.append(c)
            result["segmentation"] = segmentation.case_result(c)
        if "major_axis" in config.metrics and case.major_axis_mm is not None:  # None: a normal slide
            cfg_m = config.major_axis
            value, label = load_json_output(job, cfg_m.socket)
            predicted = validate_length_mm(value, label, cfg_m.unit, longest_truth_mm)
            axis_pred.append(predicted)
            axis_truth.append(case.major_axis_mm)
            result["major_axis"] = major_axis.case_result(predicted, case.major_axis_mm, cfg_m)
        results.append(result)

    label_array, likelihood_array = np.array(labels, dtype=np.int64), np.array(likelihoods, dtype=np.float64)
    scored_calls = "classification" in config.metrics and config.classification.label_socket is not None
    call_array = np.array(calls, dtype=bool) if scored_calls else None
    aggregates: dict[str, Any] = {}
    for name in config.metrics:
        if name == "detection":
            aggregates[name] = detection.aggregate(det_cases, config.detection)
        elif name == "classification":
            aggregates[name] = classification.aggregate(
                label_array, likelihood_array, config.classification, call_array
            )
        elif name == "segmentation":
            aggregates[name] = segmentation.aggregate(seg_counts)
        elif name == "major_axis":
            aggregates[name] = major_axis.aggregate(np.array(axis_pred), np.array(axis_truth), config.major_axis)
    metrics = build_metrics(results, aggregates, config)
    return Evaluation(metrics, config, det_cases, label_array, likelihood_array, call_array)
