"""``python -m training label-classifier``: the slide-level model of a slide-label task (HER2 study's SVM)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from algorithm.classify import LabelModel
from algorithm.console import progress
from algorithm.errors import ConfigError
from algorithm.features import PatchFeatureConfig, patch_features
from algorithm.io.atomic import write_json_atomic
from algorithm.models import load_patch_classifier
from algorithm.slide import open_slide
from algorithm.slide_label import assess_label
from algorithm.tissue import tissue_mask
from training.classifier.selection import select_classifier
from training.datasets.labelled import read_labelled_folder

NAME = "label-classifier"
HELP = "fit the slide-level model of a slide-label task on patch probabilities (HER2 study's SVM)"
DESCRIPTION = """\
The HER2 study's second level: a slide classifier on the vector of a slide's
patch predictions. Reads the out-of-fold patch probabilities that python -m
training patch-classifier wrote (oof-probabilities.json), turns each slide's
into fixed-length features (the probabilities ranked and read at --ranks
evenly spaced ranks, quantiles, a histogram, the mean and the patch count),
and chooses among logistic regression, an SVM (the study's), a random forest
and gradient boosting by cross-validated AUC; the chosen one is refitted on all
slides and saved (copy it to label_model.joblib for python -m algorithm).

With --test-slides, --test-labels and --patch-classifier, the saved pair is
scored on held-out slides through the container's own code path (patch
selection, stain normalisation, the tile engine, this model): F1 (the study's
metric), AUC, accuracy, and the patch-level accuracy beside them.

example:
  python -m training label-classifier --probabilities runs/patch-classifier/oof-probabilities.json \\
      --out runs/patch-classifier/label_model.joblib \\
      --test-slides data/synth/label-test --test-labels data/synth/label-test/slide-labels.csv \\
      --patch-classifier runs/patch-classifier/best.pt
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this command's options to its sub-parser (``training/cli.py`` calls it for every command)."""
    parser.add_argument("--probabilities", type=Path, required=True, help="oof-probabilities.json of patch-classifier")
    parser.add_argument("--out", type=Path, required=True, help="the label model file to write (.joblib)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds to choose the model (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ranks", type=int, default=16, help="length of the ranked patch-probability vector")
    parser.add_argument("--test-slides", type=Path, help="held-out slides to score the saved models on")
    parser.add_argument("--test-labels", type=Path, help="their labels CSV (slide,label)")
    parser.add_argument("--patch-classifier", type=Path, help="the patch classifier checkpoint (best.pt)")
    parser.add_argument("--device", default="cpu", help="device for the held-out scoring (default cpu)")


def _training_rows(path: Path, config: PatchFeatureConfig) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Slide names, feature rows and labels from an ``oof-probabilities.json``."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: out-of-fold probabilities not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not readable JSON ({exc})") from exc
    try:
        names = sorted(data)
        rows = [list(patch_features(data[n]["probabilities"], config).values()) for n in names]  # names() order
        labels = [int(data[n]["label"]) for n in names]
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: not an oof-probabilities.json of python -m training patch-classifier") from exc
    if not names:
        raise ConfigError(f"{path}: no slides")
    return names, np.array(rows, dtype=np.float64), np.array(labels, dtype=np.int64)


def held_out_scores(model: LabelModel, args: argparse.Namespace) -> dict[str, Any]:
    """F1, AUC, accuracy and patch accuracy on held-out slides, through the container's code path."""
    slides = read_labelled_folder(args.test_slides, args.test_labels)
    classifier, config, checkpoint = load_patch_classifier(args.patch_classifier, args.device)
    rows: list[dict[str, Any]] = []
    hits = patches = 0
    for slide in progress(slides, total=len(slides), desc="held-out slides", unit="slide"):
        with open_slide(slide.path) as reader:
            found = assess_label(reader, tissue_mask(reader), classifier, config, checkpoint, model, args.device)
        p = found.patches.probabilities
        right = int(((p >= 0.5) == bool(slide.label)).sum())
        hits, patches = hits + right, patches + p.size
        rows.append(
            {
                "slide": slide.name,
                "domain": slide.domain,
                "label": slide.label,
                "likelihood": found.prediction.likelihood,
                "positive": found.prediction.positive,
                "patches": int(p.size),
                "patch_accuracy": right / p.size if p.size else None,
            }
        )
    y = np.array([r["label"] for r in rows])
    likelihood = np.array([r["likelihood"] for r in rows])
    called = np.array([r["positive"] for r in rows], dtype=int)
    scores: dict[str, Any] = {
        "slides": len(rows),
        "f1": float(f1_score(y, called, zero_division=0.0)),
        "accuracy": float((called == y).mean()),
        "auc": float(roc_auc_score(y, likelihood)) if len(set(y.tolist())) == 2 else None,
        "patch_accuracy": hits / max(patches, 1),
    }
    for domain in sorted({str(r["domain"]) for r in rows}):
        keep = np.array([str(r["domain"]) == domain for r in rows])
        scores[f"f1_{domain}"] = float(f1_score(y[keep], called[keep], zero_division=0.0))
    scores["per_slide"] = rows
    return scores


def run(args: argparse.Namespace) -> int:
    """Choose and save the label model; score it on held-out slides when asked; the exit status."""
    test = (args.test_slides, args.test_labels, args.patch_classifier)
    if any(v is not None for v in test) and not all(v is not None for v in test):
        raise ConfigError("give --test-slides, --test-labels and --patch-classifier together, or none of them")
    config = PatchFeatureConfig(ranks=args.ranks)
    names, X, y = _training_rows(args.probabilities, config)  # noqa: N806 - scikit-learn's naming
    print(f"{len(names)} slides ({int(y.sum())} positive), {X.shape[1]} features")
    selection = select_classifier(X, y, args.folds, args.seed)
    scores = ", ".join(f"{name} {json.dumps(s)}" for name, s in selection.report["candidates"].items())
    print(f"label classifier: chose {selection.name} ({scores})")
    report: dict[str, Any] = {"classifier": selection.report, "training_slides": names, "seed": args.seed}
    model = LabelModel(selection.model, config, config.names(), report=report)
    if args.test_slides is not None:
        report["held_out"] = held_out_scores(model, args)
        summary = {k: v for k, v in report["held_out"].items() if k != "per_slide"}
        print(f"held out: {json.dumps(summary)}")
    model.save(args.out)
    write_json_atomic(args.out.with_name(args.out.name + ".report.json"), report)
    print(f"-> {args.out}")
    return 0
