"""Training patches for the tumour segmenter: pixels and the tumour mask under them.

Slides are drawn domain-balanced (``training.sampling``). On a tumour slide,
``tumour_fraction`` of the patches are centred on a random tumour pixel; the
rest fall anywhere in tissue, so tumour edges, normal tissue and glass are all
seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from training.datasets.tumour import TumourSlide
from training.sampling import SlideSampler, random_cell_point
from training.stain_target import TransformFactory


@dataclass
class MaskPatch:
    """One training patch and its tumour target, the mask's coverage of each patch pixel."""

    pixels: NDArray[np.uint8]  # (H, W, 3)
    target: NDArray[np.float32]  # (H, W) tumour coverage, 0..1
    slide: int


class MaskPatchSampler(SlideSampler):
    """Draws segmenter training patches, a ``tumour_fraction`` of them centred inside tumour."""

    def __init__(
        self,
        slides: list[TumourSlide],
        tile_size: int,
        mpp: float,
        transform_factory: TransformFactory | None = None,
        tumour_fraction: float = 0.5,
    ) -> None:
        super().__init__(slides, transform_factory)
        self.tile_size, self.mpp = tile_size, mpp
        self.tumour_fraction = tumour_fraction
        self._tumour: dict[int, NDArray[np.int64]] = {}

    def _centre(self, i: int, rng: np.random.Generator) -> NDArray[np.float64]:
        slide = self.slides[i]
        if slide.label and rng.random() < self.tumour_fraction:
            if i not in self._tumour:
                self._tumour[i] = np.argwhere(slide.mask)
            return random_cell_point(self._tumour[i], slide.mask_downsample, rng)
        return self.random_tissue_point(i, rng)

    def _target(self, i: int, x: int, y: int, extent: int) -> NDArray[np.float32]:
        """The mask at the patch pixels' centres (nearest mask pixel); past the slide's edges, no tumour."""
        slide = self.slides[i]
        sx, sy = slide.mask_downsample
        centres = (np.arange(self.tile_size) + 0.5) * (extent / self.tile_size)
        rows = np.floor((centres + y) / sy).astype(np.int64)
        cols = np.floor((centres + x) / sx).astype(np.int64)
        h, w = slide.mask.shape
        target = slide.mask[np.ix_(rows.clip(0, h - 1), cols.clip(0, w - 1))].astype(np.float32)
        target[(rows < 0) | (rows >= h)] = 0.0
        target[:, (cols < 0) | (cols >= w)] = 0.0
        return target

    def sample(self, rng: np.random.Generator) -> MaskPatch:
        """One patch with its target, centred (with jitter) on tumour or on any tissue."""
        i = self.pick(rng)
        extent = int(round(self.tile_size * self.reader(i).downsample_for(self.mpp)))
        centre = self._centre(i, rng) + rng.uniform(-0.25, 0.25, 2) * extent
        x, y = int(round(centre[0] - extent / 2)), int(round(centre[1] - extent / 2))
        return MaskPatch(self.read(i, x, y, extent, self.tile_size), self._target(i, x, y, extent), i)


def augment(patch: MaskPatch, rng: np.random.Generator) -> MaskPatch:
    """One of the square's eight symmetries, applied to pixels and target alike."""
    pixels, target = patch.pixels, patch.target
    if rng.random() < 0.5:
        pixels, target = pixels[:, ::-1], target[:, ::-1]
    if rng.random() < 0.5:
        pixels, target = pixels[::-1], target[::-1]
    if rng.random() < 0.5:
        pixels, target = pixels.transpose(1, 0, 2), target.T
    return MaskPatch(np.ascontiguousarray(pixels), np.ascontiguousarray(target), patch.slide)
