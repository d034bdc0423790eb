"""Nuclei segmentation of a slide: tissue tiles -> U-Net probabilities -> a uint8 mask on the slide's grid.

tissue mask -> the U-Net's tile grid at its resolution (tissue tiles only, a
quarter tile shared by neighbours) -> stain normalisation fitted to this slide
(the target in the U-Net's checkpoint, as for the tumour segmenter) -> the tile
engine (sigmoid probabilities, averaged over each tile and its three mirror
images: :data:`NUCLEI_VIEWS`) -> stitched at the model's resolution, overlaps
blended with the taper -> resampled bilinearly to the output grid (pixel
centres aligned, in strips: :mod:`algorithm.segmentation.regrid`) ->
``>= threshold`` (the checkpoint's) -> uint8 0/1.

The output grid is the slide's level-0 grid when it has at most
:data:`MAX_MASK_PIXELS` pixels; beyond, the smallest power-of-two downsample
``D`` (2, 4, ...) whose grid fits, each mask pixel covering ``D x D`` level-0
pixels (the MHA's spacing says so: ``D * mpp``). A slide without tissue gives
an all-zero mask of the same size.

Memory: the stitched probabilities are at the model's resolution while the
mask is on level 0; on a downsampled grid they are made coarser too (area-
averaged on the device, a power-of-two factor of the tile size no coarser
than the mask), so a whole slide does not need a model-resolution heatmap.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage

from algorithm.models.unet import UNetConfig
from algorithm.segmentation import SegmentationOptions, SlideHeatmap, segment_slide, segmentation_grid
from algorithm.segmentation.files import mask_mha_bytes
from algorithm.segmentation.heatmap import heatmap_shape
from algorithm.segmentation.regrid import threshold_on_grid
from algorithm.slide.base import SlideReader
from algorithm.stain.slide_fit import slide_normaliser
from algorithm.stain.spec import StainSpec
from algorithm.tissue import TissueMask

MAX_MASK_PIXELS = 64_000_000  # pixels of the mask's grid; larger slides get a power-of-two downsample
DEFAULT_THRESHOLD = 0.5  # for checkpoints without a "threshold"
# Test-time mirroring: leave-images-out pooled IoU on MoNuSeg 0.698 with 1 view, 0.701 with 2, 0.704 with 4
# (models/MODEL_CARD.md), for 4 times the model's work (still under a second and a half per 1000^2 image here).
NUCLEI_VIEWS = 4


def mask_downsample(dimensions: tuple[int, int], max_pixels: int = MAX_MASK_PIXELS) -> int:
    """Level-0 pixels per mask pixel: 1 when the level-0 grid ``(width, height)`` has at most ``max_pixels``
    pixels, else the smallest power of two whose grid does."""
    downsample = 1
    while math.ceil(dimensions[0] / downsample) * math.ceil(dimensions[1] / downsample) > max_pixels:
        downsample *= 2
    return downsample


def heatmap_factor(tile_size: int, scale: float, downsample: int) -> int:
    """Tile pixels per stitched pixel: 1 (the model's resolution), or on a downsampled mask grid the largest
    power of two dividing ``tile_size`` whose stitched pixels (``scale`` level-0 pixels per tile pixel) are
    no larger than the mask's ``downsample``."""
    factor = 1
    while tile_size % (2 * factor) == 0 and scale * 2 * factor <= downsample:
        factor *= 2
    return factor


@dataclass
class NucleiSegmentation:
    """A slide's nuclei: the uint8 0/1 mask on its output grid, and how it was made."""

    mask: NDArray[np.uint8]  # (rows, columns) on the output grid
    downsample: int  # level-0 pixels per mask pixel (1: the level-0 grid)
    mpp: float  # microns per mask pixel
    threshold: float  # probabilities at or above it are nuclei
    segmentation: SlideHeatmap  # the stitched probabilities, tiles and engine figures
    seconds: float

    @property
    def instances(self) -> int:
        """Connected nuclei regions in the mask (4-connectivity): a rough nucleus count (touching nuclei merge)."""
        return int(ndimage.label(self.mask)[1])

    def results(self, slide_mpp: tuple[float, float]) -> dict[str, Any]:
        """The task results this segmentation provides (see ``interface.tasks.RESULTS``): the mask as MHA."""
        return {"nuclei_mask": mask_mha_bytes(self.mask, self.downsample, slide_mpp)}

    def summary(self) -> str:
        """One log line: tiles, the mask's grid, nuclei pixel share and count, time and engine figures."""
        s = self.segmentation
        rows, columns = self.mask.shape
        share = 100 * float(np.count_nonzero(self.mask)) / max(1, self.mask.size)
        return (
            f"{s.tiles} of {s.tiles_total} tiles with tissue, nuclei mask {columns}x{rows} px at {self.mpp:.2f} um/px"
            f" (downsample {self.downsample}), {share:.1f} % nuclei pixels, {self.instances} nuclei "
            f"(threshold {self.threshold:.2f}), {self.seconds:.1f} s; {s.engine.line()}"
        )


def segment_nuclei(
    slide: SlideReader,
    mask: TissueMask,
    model: torch.nn.Module,
    config: UNetConfig,
    stain: StainSpec | None,
    device: torch.device,
    threshold: float = DEFAULT_THRESHOLD,
    options: SegmentationOptions = SegmentationOptions(),
    max_pixels: int = MAX_MASK_PIXELS,
    views: int = NUCLEI_VIEWS,
) -> NucleiSegmentation:
    """The nuclei task on one slide (see the module): ``model`` gives logits, ``stain`` is the target in its
    checkpoint, ``options`` the engine's settings (its heatmap factor is chosen here), ``views`` the tile's
    mirror images averaged (1, 2 or 4)."""
    start = time.perf_counter()
    downsample = mask_downsample(slide.dimensions, max_pixels)
    grid = segmentation_grid(slide, config, options, mask)
    options = replace(options, heatmap_factor=heatmap_factor(config.tile_size, grid.scale, downsample), views=views)
    transform = slide_normaliser(stain, slide, mask, grid.level, pixels=grid.pixels)
    found = segment_slide(slide, model, config, options, device, transform, mask, grid)
    shape = heatmap_shape(slide.dimensions, downsample)
    nuclei = threshold_on_grid(found.heatmap, downsample, shape, threshold)
    return NucleiSegmentation(
        nuclei, downsample, slide.mpp_at(downsample), threshold, found, time.perf_counter() - start
    )
