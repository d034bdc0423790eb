"""What one QC picture shows: the slide's thumbnail and the layers drawn over it (the drawing's inputs).

:mod:`algorithm.qc.job_view` fills them from what a job computed; :mod:`algorithm.qc.picture` draws them,
with :mod:`~algorithm.qc.legend` and :mod:`~algorithm.qc.patches` reading them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FILE, ASSUMED, GIVEN = "file", "assumed", "given"  # where a picture's resolution came from (QcInput.mpp_source)


@dataclass(frozen=True)
class MaskLayer:
    """A boolean mask over the slide and how it maps onto level-0 pixels (level-0 pixels per mask pixel)."""

    mask: NDArray[np.bool_]
    downsample: tuple[float, float]


@dataclass(frozen=True)
class PatchLayer:
    """The label task's patches: the analysed ones with their probabilities, the dropped ones, the slide's call.

    Boxes are level-0 ``(x, y, w, h)`` rows; ``boxes[i]`` is the patch of ``probabilities[i]``.
    """

    boxes: NDArray[np.float64]  # (n, 4) the patches the patch classifier ran on
    probabilities: NDArray[np.float64]  # (n,) their probabilities, 0..1
    dropped: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 4)))  # (m, 4) tissue ones dropped
    likelihood: float | None = None  # the label model's slide likelihood
    positive: bool | None = None  # and its call

    def title(self) -> str:
        """The caption's line for the slide's call: the likelihood, the call, the patches' probabilities."""
        call = "-" if self.positive is None else "positive" if self.positive else "negative"
        likelihood = "-" if self.likelihood is None else f"{self.likelihood:.3g}"
        p = np.asarray(self.probabilities, dtype=np.float64)
        spread = f", mean {p.mean():.3f} (min {p.min():.3f}, max {p.max():.3f})" if p.size else ""
        return f"slide label: {call}, likelihood {likelihood}; {p.size} patches analysed{spread}"


@dataclass(frozen=True)
class QcInput:
    """Everything one picture shows; coordinates are level-0 pixels, sizes ``(width, height)``."""

    name: str
    dimensions: tuple[int, int]  # the slide's level-0 size
    thumbnail: NDArray[np.uint8]  # the whole slide, RGB, at the picture's scale
    tissue: MaskLayer | None = None
    figures_px: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))  # (n, 2) detected figures
    scores: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))  # (n,) their scores, 0..1
    heatmap: NDArray[np.float32] | None = None  # tumour probability, (H, W)
    heatmap_downsample: float = 1.0  # level-0 pixels per heatmap pixel
    axis_line_px: NDArray[np.float64] | None = None  # (2, 2) endpoints of the major axis
    nuclei: MaskLayer | None = None
    patches: PatchLayer | None = None  # the label task's, when it ran
    caption: Sequence[str] = ()  # lines under the legend (the slide's figures)
    # the task's outputs (``Task.outputs``' names): the legend lists the layers they make, "(none)" where one is
    # empty, and leaves out the others (a nuclei job's picture does not list a heatmap); None: every layer
    outputs: frozenset[str] | None = None
    mpp: tuple[float, float] | None = None  # microns per level-0 pixel (x, y): the scale bar, the rings' size
    mpp_source: str = FILE  # or ASSUMED (a --mpp fallback: the file states none; the scale bar says so), GIVEN
    threshold: float | None = None  # the figures' decision threshold (the scores drawn: threshold..1)

    def tissue_found(self) -> bool | None:
        """Whether the tissue mask has any tissue; None where there is no mask."""
        return None if self.tissue is None else bool(np.any(self.tissue.mask))

    def score_floor(self) -> float:
        """The lowest score a drawn figure can have: the threshold, else (unrecorded) the lowest drawn, else 0."""
        if self.threshold is not None:
            return float(self.threshold)
        scores = np.asarray(self.scores, dtype=np.float64)
        return float(np.floor(scores.min() * 100) / 100) if scores.size else 0.0
