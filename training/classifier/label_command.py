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
from algorithm.io.readable import readable_file
from algorithm.models import PatchClassifier, PatchClassifierConfig, load_patch_classifier
from algorithm.options import positive_int
from algorithm.slide import open_slide
from algorithm.slide_label import assess_label
from algorithm.tissue import tissue_mask
from training.arguments import add_device_argument, add_seed_argument, fold_count, output_file
from training.classifier.selection import CANDIDATE_NAMES, f1_threshold, select_classifier
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

The decision threshold (--threshold) is the one with the best F1 over the
likelihoods of --valid-slides when given: slides of other scanners, never
trained on, scored as the container scores them (the patch model trained on
all slides is surer of itself than the out-of-fold models the label model was
fitted on, so its likelihoods sit elsewhere); else over the chosen model's
cross-validated likelihoods.

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
    parser.add_argument("--out", type=output_file, required=True, help="the label model file to write (.joblib)")
    parser.add_argument(
        "--folds", type=fold_count, default=5, help="cross-validation folds to choose the model, 2 or more (default 5)"
    )
    add_seed_argument(parser, "the cross-validation folds and the candidate models")
    parser.add_argument(
        "--ranks",
        type=positive_int,
        default=16,
        help="length of the ranked patch-probability vector: a slide's patch probabilities, highest first, read at "
        "this many evenly spaced ranks (default 16)",
    )
    parser.add_argument(
        "--classifiers",
        type=lambda text: [t.strip() for t in text.split(",") if t.strip()],
        default=None,
        metavar="NAMES",
        help=f"comma-separated candidates to choose among (default all: {', '.join(CANDIDATE_NAMES)})",
    )
    parser.add_argument(
        "--threshold",
        type=_threshold,
        default="cv",
        help="the decision threshold: 'cv' chooses it, the one with the best F1 (the middle of the widest gap among "
        "ties) over the likelihoods of --valid-slides when they are given (no cross-validation then, despite the "
        "name), else over the chosen model's cross-validated likelihoods; or a fixed likelihood in (0, 1) "
        "(default cv)",
    )
    parser.add_argument(
        "--valid-slides",
        type=Path,
        help="validation slides (never trained on): the threshold is then the one with the best F1 over their "
        "likelihoods, each slide scored as the container scores it",
    )
    parser.add_argument("--valid-labels", type=Path, help="their labels CSV (slide,label)")
    parser.add_argument("--test-slides", type=Path, help="held-out slides to score the saved models on")
    parser.add_argument("--test-labels", type=Path, help="their labels CSV (slide,label)")
    parser.add_argument("--patch-classifier", type=Path, help="the patch classifier checkpoint (best.pt)")
    add_device_argument(parser, ": where the validation and held-out slides are scored")


def _summary(scores: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in scores.items() if k != "per_slide"})


def _threshold(text: str) -> str | float:
    """``--threshold``: ``cv`` or a likelihood strictly between 0 and 1."""
    if text == "cv":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"--threshold must be 'cv' or a likelihood in (0, 1), got {text!r}")
    return value


def _training_rows(path: Path, config: PatchFeatureConfig) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Slide names, feature rows and labels from an ``oof-probabilities.json``."""
    readable_file(path)
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


# a patch classifier as load_patch_classifier gives it: the model, its configuration and the rest of its checkpoint
LoadedClassifier = tuple[PatchClassifier, PatchClassifierConfig, dict[str, Any]]


def slide_likelihoods(
    model: LabelModel, patch_classifier: LoadedClassifier | None, folder: Path, labels: Path, device: str
) -> list[dict[str, Any]]:
    """Each labelled slide of ``folder`` through the container's code path (patch selection, stain normalisation,
    ``patch_classifier`` on the tile engine, ``model``): its likelihood and patch accuracy."""
    assert patch_classifier is not None, "slides to score come with --patch-classifier (run checks it)"
    slides = read_labelled_folder(folder, labels)
    classifier, config, checkpoint = patch_classifier
    rows: list[dict[str, Any]] = []
    for slide in progress(slides, total=len(slides), desc=f"{folder.name} slides", unit="slide"):
        with open_slide(slide.path) as reader:
            found = assess_label(reader, tissue_mask(reader), classifier, config, checkpoint, model, device)
        p = found.patches.probabilities
        rows.append(
            {
                "slide": slide.name,
                "domain": slide.domain,
                "label": slide.label,
                "likelihood": found.prediction.likelihood,
                "patches": int(p.size),
                "patch_hits": int(((p >= 0.5) == bool(slide.label)).sum()),
            }
        )
    return rows


def label_scores(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """F1 (overall and per domain), AUC, accuracy and patch accuracy of slides called at ``threshold``."""
    y = np.array([r["label"] for r in rows])
    likelihood = np.array([r["likelihood"] for r in rows])
    called = (likelihood >= threshold).astype(int)
    patches = sum(r["patches"] for r in rows)
    scores: dict[str, Any] = {
        "slides": len(rows),
        "f1": float(f1_score(y, called, zero_division=0.0)),
        "accuracy": float((called == y).mean()),
        "auc": float(roc_auc_score(y, likelihood)) if len(set(y.tolist())) == 2 else None,
        "patch_accuracy": sum(r["patch_hits"] for r in rows) / max(patches, 1),
    }
    domains = [str(r["domain"]) for r in rows]
    for domain in sorted(d for d in set(domains) if domains.count(d) > 1):  # not for one slide per scanner
        keep = np.array([d == domain for d in domains])
        scores[f"f1_{domain}"] = float(f1_score(y[keep], called[keep], zero_division=0.0))
    scores["per_slide"] = [
        {
            **{k: v for k, v in r.items() if k != "patch_hits"},
            "positive": bool(r["likelihood"] >= threshold),
            "patch_accuracy": r["patch_hits"] / r["patches"] if r["patches"] else None,
        }
        for r in rows
    ]
    return scores


def run(args: argparse.Namespace) -> int:
    """Choose and save the label model; score it on held-out slides when asked; the exit status."""
    for kind in ("test", "valid"):
        given = (getattr(args, f"{kind}_slides"), getattr(args, f"{kind}_labels"))
        if any(v is not None for v in given) and not (all(v is not None for v in given) and args.patch_classifier):
            raise ConfigError(f"give --{kind}-slides, --{kind}-labels and --patch-classifier together, or none of them")
    config = PatchFeatureConfig(ranks=args.ranks)
    names, X, y = _training_rows(args.probabilities, config)  # noqa: N806 - scikit-learn's naming
    print(f"{len(names)} slides ({int(y.sum())} positive), {X.shape[1]} features")
    selection = select_classifier(X, y, args.folds, args.seed, args.classifiers)
    scores = ", ".join(f"{name} {json.dumps(s)}" for name, s in selection.report["candidates"].items())
    print(f"label classifier: chose {selection.name} ({scores})")
    report: dict[str, Any] = {"classifier": selection.report, "training_slides": names, "seed": args.seed}
    model = LabelModel(selection.model, config, config.names(), report=report)
    # loaded once for the validation and the test slides (both need it, and only they)
    patch_classifier = load_patch_classifier(args.patch_classifier, args.device) if args.patch_classifier else None
    if args.threshold != "cv":
        model.threshold, chosen_by = float(args.threshold), "given"
    elif args.valid_slides is not None:
        rows = slide_likelihoods(model, patch_classifier, args.valid_slides, args.valid_labels, args.device)
        model.threshold = f1_threshold(np.array([r["likelihood"] for r in rows]), np.array([r["label"] for r in rows]))
        chosen_by = "best F1 over the validation slides' likelihoods"
        report["validation"] = label_scores(rows, model.threshold)
        print(f"validation: {_summary(report['validation'])}")
    else:
        assert selection.cv_likelihood is not None, "select_classifier always gives its cross-validated likelihoods"
        model.threshold = f1_threshold(selection.cv_likelihood, y)
        chosen_by = "best F1 over cross-validated likelihoods"
    report["threshold"] = {"value": model.threshold, "chosen_by": chosen_by}
    print(f"decision threshold {model.threshold:.3f} ({chosen_by})")
    if args.test_slides is not None:
        report["held_out"] = label_scores(
            slide_likelihoods(model, patch_classifier, args.test_slides, args.test_labels, args.device), model.threshold
        )
        print(f"held out: {_summary(report['held_out'])}")
    model.save(args.out)
    write_json_atomic(args.out.with_name(args.out.name + ".report.json"), report)
    print(f"-> {args.out}")
    return 0
