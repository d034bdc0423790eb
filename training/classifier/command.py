"""``python -m training classifier``: train the slide models from heatmaps and labels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from algorithm.classify import SlideModel
from algorithm.errors import ConfigError
from algorithm.features import FeatureConfig
from algorithm.io.atomic import write_json_atomic
from training.arguments import add_seed_argument, fold_count, output_file
from training.classifier.features import FeatureTable, feature_table
from training.classifier.selection import (
    axis_within,
    mean_relative_error,
    select_axis_regressor,
    select_classifier,
)

NAME = "classifier"
HELP = "train the slide models (tumour probability, major axis) on heatmap features"
DESCRIPTION = """\
Compute HeLP 2019's heatmap features (largest tumour major axis and tumour
ratio at several scales and thresholds; max, mean, std of the probabilities)
and patch-probability aggregates (quantiles, histogram) for every slide named
in a labels CSV, then choose by k-fold cross-validation:

  tumour classifier   scaling + logistic regression / SVM / random forest /
                      gradient boosting, by mean AUC over stratified folds
  major-axis model    the measured axis as it is, linearly calibrated, or a
                      regressor on all features, by accuracy within 5 % (HeLP's
                      score) on the tumour slides

Writes --out (a joblib file: both models, feature names and configuration,
scikit-learn version; copy it to slide_model.joblib for python -m algorithm)
and <out>.report.json (cross-validation, and held-out scores with --test-*).

Labels CSV: slide,label[,major_axis_um] with label 1/0, tumour/normal or
true/false; `python -m training heatmaps` writes one for slides with masks.

example:
  python -m training classifier --heatmaps data/heatmaps/train --labels data/heatmaps/train/labels.csv \\
      --out runs/slide_model.joblib --test-heatmaps data/heatmaps/test --test-labels data/heatmaps/test/labels.csv
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    parser.add_argument("--heatmaps", type=Path, required=True, help="folder of <slide>.heatmap.tiff files")
    parser.add_argument("--labels", type=Path, required=True, help="CSV: slide,label[,major_axis_um]")
    parser.add_argument("--out", type=output_file, required=True, help="the slide model file to write (.joblib)")
    parser.add_argument("--folds", type=fold_count, default=5, help="cross-validation folds, 2 or more (default 5)")
    add_seed_argument(parser, "the cross-validation folds and the candidate models")
    parser.add_argument(
        "--scales",
        default="4,16,64,256",
        help="feature scales, comma-separated: k, a square, block-averages the heatmap to 1/k of its pixels "
        "(default 4,16,64,256)",
    )
    parser.add_argument(
        "--thresholds",
        default="0.2,0.5,0.9",
        help="tumour probability thresholds of the major-axis and tumour-ratio features, comma-separated, each in "
        "(0, 1) (default 0.2,0.5,0.9)",
    )
    parser.add_argument("--test-heatmaps", type=Path, help="held-out heatmaps to score the chosen models on")
    parser.add_argument("--test-labels", type=Path, help="held-out labels CSV")


def _numbers(text: str, kind: type, what: str) -> tuple:
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ConfigError(f"--{what} must be a comma-separated list of numbers, got {text!r}") from exc


def held_out_scores(model: SlideModel, table: FeatureTable) -> dict[str, Any]:
    """Accuracy, AUC and major-axis accuracy of the chosen models on slides they never saw.

    The cross-validation scores chose the models; these are the figures to report.
    """
    predictions = [model.predict(dict(zip(table.names, row, strict=True))) for row in table.X]
    probability = np.array([p.tumour_probability for p in predictions])
    called = probability >= model.threshold
    scores: dict[str, Any] = {"slides": len(table.slides), "accuracy": float((called == table.labels).mean())}
    if len(set(table.labels)) == 2:
        scores["auc"] = float(roc_auc_score(table.labels, probability))
    tumour = (table.labels == 1) & np.isfinite(table.axes_um) & (table.axes_um > 0)
    if tumour.any():
        axes = np.array([p.major_axis_um for p in predictions])[tumour]
        scores["axis_within_5_percent"] = float(axis_within(axes, table.axes_um[tumour]).mean())
        scores["axis_mean_relative_error"] = mean_relative_error(axes, table.axes_um[tumour])
    scores["per_slide"] = [
        {
            "slide": s,
            "label": int(label),
            "probability": float(p.tumour_probability),
            "major_axis_um": p.major_axis_um,
            "truth_axis_um": None if not np.isfinite(a) else float(a),
        }
        for s, label, p, a in zip(table.slides, table.labels, predictions, table.axes_um, strict=True)
    ]
    return scores


def check_arguments(args: argparse.Namespace) -> None:
    """What the options allow together, checked before any work (a usage error: exit 2); ConfigError."""
    if (args.test_heatmaps is None) != (args.test_labels is None):
        raise ConfigError("give both --test-heatmaps and --test-labels, or neither")
    _features(args)


def _features(args: argparse.Namespace) -> FeatureConfig:
    return FeatureConfig(
        scales=_numbers(args.scales, int, "scales"), thresholds=_numbers(args.thresholds, float, "thresholds")
    )


def run(args: argparse.Namespace) -> int:
    """Build the feature table, choose both slide models by cross-validation and save them; the exit status."""
    config = _features(args)
    table = feature_table(args.heatmaps, args.labels, config)
    print(f"{len(table.slides)} slides ({int(table.labels.sum())} tumour), {len(table.names)} features")
    classifier = select_classifier(table.X, table.labels, args.folds, args.seed)
    axis, axis_feature = select_axis_regressor(table.X, table.axes_um, table.names, args.folds, args.seed)
    for title, selection in (("tumour classifier", classifier), ("major axis", axis)):
        scores = ", ".join(f"{name} {json.dumps(s)}" for name, s in selection.report["candidates"].items())
        print(f"{title}: chose {selection.name} ({scores})")
    report: dict[str, Any] = {
        "classifier": classifier.report,
        "axis": axis.report,
        "training_slides": table.slides,
        "seed": args.seed,
    }
    model = SlideModel(
        classifier=classifier.model,
        axis_regressor=axis.model,
        features=config,
        feature_names=table.names,
        axis_feature=axis_feature,
        report=report,
    )
    if args.test_heatmaps is not None:
        test = feature_table(args.test_heatmaps, args.test_labels, config)
        report["held_out"] = held_out_scores(model, test)
        summary = {k: v for k, v in report["held_out"].items() if k != "per_slide"}
        print(f"held out: {json.dumps(summary)}")
    model.save(args.out)
    write_json_atomic(args.out.with_name(args.out.name + ".report.json"), report)
    print(f"-> {args.out}")
    return 0
