"""Point annotations of one slide, whatever dataset they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import ConfigError

MITOSIS = 1
IMPOSTER = 2


@dataclass
class SlideAnnotations:
    """Cells annotated on one slide: centres in level-0 pixels and their classes."""

    file_name: str
    width: int
    height: int
    points: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))  # (N, 2) x, y
    labels: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    box_size: float = 50.0  # level-0 pixels; MIDOG's boxes are 50 x 50
    domain: str | None = None  # scanner or hospital
    split: str | None = None  # "train" / "valid" / "test" when the dataset says
    path: Path | None = None  # the slide file, once located
    # Look-alikes that are not annotated cells (the synthetic generator's truth lists them): centres to sample
    # negative patches on, never boxes; (0, 2) for datasets without them (MIDOG).
    confounders: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))  # (M, 2) x, y
    confounder_kinds: list[str] = field(default_factory=list)  # (M,) each confounder's kind ("pyknotic"...)
    # each mitosis's phase and place ("telophase, outside tumour"), in the order of ``mitoses``, where the dataset
    # records them (synthetic slides' truth); empty otherwise
    mitosis_kinds: list[str] = field(default_factory=list)

    @property
    def slide_path(self) -> Path:
        """The located slide file; a ConfigError naming the slide if the dataset reader found none."""
        if self.path is None:
            raise ConfigError(f"{self.file_name}: slide file not located")
        return self.path

    @property
    def mitoses(self) -> NDArray[np.float64]:
        """Centres of the mitotic figures, (N, 2) level-0 pixels."""
        return self.points[self.labels == MITOSIS]

    @property
    def imposters(self) -> NDArray[np.float64]:
        """Centres of the imposters (look-alikes the detector must learn to reject), (N, 2) level-0 pixels."""
        return self.points[self.labels == IMPOSTER]
