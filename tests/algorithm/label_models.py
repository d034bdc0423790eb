"""Small real label-task models for tests: a randomly initialised patch CNN and a fitted label model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from algorithm.classify import LabelModel
from algorithm.features import PatchFeatureConfig
from algorithm.job import LABEL_MODEL_FILE, PATCH_CLASSIFIER_FILE
from algorithm.models import PatchClassifierConfig, build_patch_classifier, save_checkpoint


def label_model() -> LabelModel:
    """A real label model: positive when the mean patch probability is high."""
    features = PatchFeatureConfig(ranks=4)
    names = features.names()
    rng = np.random.default_rng(0)
    X = rng.random((20, len(names)))
    y = (X[:, names.index("mean")] > 0.5).astype(int)
    return LabelModel(LogisticRegression().fit(X, y), features, names)


def write_label_models(folder: Path, stain: Any = None) -> None:
    """``patch_classifier.pt`` (64 px patches at 1 um/px, seeded weights) and ``label_model.joblib`` in ``folder``."""
    config = PatchClassifierConfig(arch="resnet18", tile_size=64, mpp=1.0)  # random logits vary more than mobilenet's
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_patch_classifier(config)
    save_checkpoint(folder / PATCH_CLASSIFIER_FILE, "patch-classifier", config.to_dict(), model, extra={"stain": stain})
    label_model().save(folder / LABEL_MODEL_FILE)


def positive_label_slide(folder: Path) -> Path:
    """A small positive synthetic slide (in ``folder/slide``) and the test label models (in ``folder``): the slide."""
    from training.synth import SynthConfig, generate_slide

    config = SynthConfig(seed=21, width=1536, height=1024, label="tumour", positive=True, mitoses=2, imposters=2)
    slide = generate_slide(config, folder / "slide").files.slide
    write_label_models(folder)
    return Path(slide)
