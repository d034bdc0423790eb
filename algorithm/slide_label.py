"""A slide's label from its patches (the HER2 study's two levels): patches -> patch CNN -> label model.

tissue mask -> the study's patch selection at the classifier's resolution (glass,
blood and nuclei-poor patches dropped: :mod:`algorithm.patches`, with the filters the
classifier was trained with, from its checkpoint) -> stain normalisation fitted to
this slide (the checkpoint's target) -> the tile engine (one probability per patch)
-> the label model over the patch probabilities -> the slide's likelihood and call.

No single patch decides: the patch classifier was trained with every patch carrying
its slide's label, so its patch-level accuracy is low by design; the label model
reads the distribution of all of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from algorithm.classify import LabelModel, LabelPrediction
from algorithm.engine import ClassifierModel, EngineOptions, EngineStats, TileRun
from algorithm.models.patch_classifier import PatchClassifierConfig
from algorithm.patches import PatchOptions, PatchSelection, select_patches
from algorithm.slide.base import SlideReader
from algorithm.stain.slide_fit import slide_normaliser
from algorithm.stain.spec import StainSpec
from algorithm.tissue import TissueMask


@dataclass(frozen=True)
class LabelOptions:
    """How the patches are chosen and classified."""

    patches: PatchOptions | None = None  # None: the checkpoint's filters (else the defaults) at the model's size
    views: int = 1  # logits averaged over each patch and its mirror images: 1, 2 or 4
    engine: EngineOptions = EngineOptions()


def patch_options(config: PatchClassifierConfig, checkpoint: dict[str, Any], options: LabelOptions) -> PatchOptions:
    """The patch selection a classifier needs: ``options``' or its checkpoint's filters, at its size and mpp."""
    chosen = options.patches
    if chosen is None:
        saved = checkpoint.get("patches")
        chosen = PatchOptions.from_dict(saved, "patch classifier: patches") if saved else PatchOptions()
    return replace(chosen, size=config.tile_size, mpp=config.mpp)


@dataclass
class PatchProbabilities:
    """One probability per selected patch (in the selection's grid order), and how they were made."""

    selection: PatchSelection
    probabilities: NDArray[np.float32]
    seconds: float
    engine: EngineStats = field(default_factory=EngineStats)


def patch_probabilities(
    slide: SlideReader,
    mask: TissueMask,
    classifier: torch.nn.Module,
    config: PatchClassifierConfig,
    checkpoint: dict[str, Any],
    device: torch.device | str = "cpu",
    options: LabelOptions = LabelOptions(),
) -> PatchProbabilities:
    """The patch classifier over the slide's selected patches, stain-normalised to its checkpoint's target."""
    start = time.perf_counter()
    selection = select_patches(slide, mask, patch_options(config, checkpoint, options))
    grid = selection.grid
    if not len(grid):
        return PatchProbabilities(selection, np.zeros(0, np.float32), time.perf_counter() - start)
    stain: StainSpec | None = checkpoint.get("stain")
    transform = slide_normaliser(stain, slide, mask, grid.level, pixels=grid.pixels)
    run = TileRun(slide, grid, ClassifierModel(classifier, views=options.views), device, transform, options.engine)
    found = np.concatenate([result.output for result in run]).astype(np.float32, copy=False)
    return PatchProbabilities(selection, found, time.perf_counter() - start, run.stats)


@dataclass
class LabelAssessment:
    """A slide's label: the patches' probabilities and the label model's call."""

    patches: PatchProbabilities
    prediction: LabelPrediction

    def results(self) -> dict[str, Any]:
        """The task results this assessment provides (see ``interface.tasks.RESULTS``)."""
        return {"slide_likelihood": self.prediction.likelihood, "slide_label": self.prediction.positive}

    def summary(self) -> str:
        """One log line: patches, their mean probability, the call and the time."""
        p, found = self.prediction, self.patches
        mean = float(found.probabilities.mean()) if found.probabilities.size else 0.0
        call = "positive" if p.positive else "negative"
        return (
            f"{found.selection.summary()}; mean patch probability {mean:.3f}; "
            f"slide likelihood {p.likelihood:.3f}: {call}; {found.seconds:.1f} s; {found.engine.line()}"
        )


def assess_label(
    slide: SlideReader,
    mask: TissueMask,
    classifier: torch.nn.Module,
    config: PatchClassifierConfig,
    checkpoint: dict[str, Any],
    label_model: LabelModel,
    device: torch.device | str = "cpu",
    options: LabelOptions = LabelOptions(),
) -> LabelAssessment:
    """The label task on one slide: patch probabilities, then the label model's call."""
    found = patch_probabilities(slide, mask, classifier, config, checkpoint, device, options)
    return LabelAssessment(found, label_model.predict(found.probabilities))
