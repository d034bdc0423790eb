from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from algorithm.classify import LabelModel
from algorithm.features import PatchFeatureConfig, patch_features
from algorithm.models import PatchClassifierConfig, build_patch_classifier
from algorithm.patches import PatchOptions
from algorithm.slide import open_slide
from algorithm.slide_label import LabelOptions, assess_label, patch_options, patch_probabilities
from algorithm.tissue import tissue_mask
from training.datasets.labelled import LabelledSlide
from training.patch_classifier.data import read_slide_patches
from training.patch_classifier.train import predict_patches

CONFIG = PatchClassifierConfig(arch="mobilenet_v3_small", tile_size=128, mpp=1.0)
FEATURES = PatchFeatureConfig(ranks=4)


@pytest.fixture(scope="module")
def classifier() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_patch_classifier(CONFIG).eval()


@pytest.fixture(scope="module")
def label_model() -> LabelModel:
    rng = np.random.default_rng(0)
    X = np.array([list(patch_features(rng.random(12) ** (1 + i % 2), FEATURES).values()) for i in range(20)])
    y = np.arange(20) % 2
    return LabelModel(LogisticRegression().fit(X, y), FEATURES, FEATURES.names())


def test_patch_options_come_from_the_checkpoint_at_the_models_size() -> None:
    saved = PatchOptions(min_tissue=0.8, max_blood=0.2).to_dict()
    chosen = patch_options(CONFIG, {"patches": saved}, LabelOptions())
    assert (chosen.size, chosen.mpp, chosen.min_tissue, chosen.max_blood) == (128, 1.0, 0.8, 0.2)
    assert patch_options(CONFIG, {}, LabelOptions()).min_tissue == PatchOptions().min_tissue
    given = LabelOptions(patches=PatchOptions(min_tissue=0.3))
    assert patch_options(CONFIG, {"patches": saved}, given).min_tissue == 0.3


def test_the_container_and_training_see_the_same_patches(synthetic_slide, classifier: torch.nn.Module) -> None:
    """The tile engine's probabilities are the training loop's on the patches it reads (same selection)."""
    path = Path(synthetic_slide.files.slide)
    options = patch_options(CONFIG, {}, LabelOptions())
    with open_slide(path) as slide:
        found = patch_probabilities(slide, tissue_mask(slide), classifier, CONFIG, {"stain": None})
    assert len(found.probabilities) == len(found.selection.grid) > 0
    bank = read_slide_patches(LabelledSlide(path, 1), options, None)
    assert len(bank.pixels) == len(found.probabilities)
    expected = predict_patches(classifier, bank.pixels)
    np.testing.assert_allclose(found.probabilities, expected, atol=1e-5)


def test_assessment_gives_the_tasks_results(synthetic_slide, classifier, label_model: LabelModel) -> None:
    with open_slide(Path(synthetic_slide.files.slide)) as slide:
        mask = tissue_mask(slide)
        first = assess_label(slide, mask, classifier, CONFIG, {}, label_model)
        again = assess_label(slide, mask, classifier, CONFIG, {}, label_model)
    results = first.results()
    assert set(results) == {"slide_likelihood", "slide_label"}
    assert isinstance(results["slide_label"], bool) and 0.0 <= results["slide_likelihood"] <= 1.0
    assert results["slide_label"] == (results["slide_likelihood"] >= 0.5)
    assert results == again.results()  # deterministic on the CPU
    assert "slide likelihood" in first.summary() and "patches" in first.summary()
