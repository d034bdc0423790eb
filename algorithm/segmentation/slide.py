"""Tumour heatmap of a whole slide.

tissue mask -> tile grid at the segmenter's resolution (tissue tiles only) ->
the tile engine (parallel reading, stain normalisation, the model) ->
per-tile probabilities, area-averaged to the heatmap's resolution on the
device -> stitched by averaging overlaps, each tile weighted down towards its
border (``HeatmapStitcher``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import torch

from algorithm.engine import EngineOptions, EngineStats, ProbabilityModel, TileModel, TileRun, TileTransform
from algorithm.errors import ConfigError
from algorithm.segmentation.heatmap import Heatmap, HeatmapStitcher, tissue_on_grid
from algorithm.slide.base import SlideReader
from algorithm.tiling import TileGrid, tissue_grid
from algorithm.tissue import TissueMask, tissue_mask


class TiledModel(Protocol):
    """What tiling needs of a segmentation model's config: its tile size and the microns per pixel it reads
    (the tumour segmenter's ``SegmenterConfig``, the nuclei U-Net's ``UNetConfig``)."""

    @property
    def tile_size(self) -> int:
        """Tile side in pixels."""
        ...

    @property
    def mpp(self) -> float:
        """Microns per pixel of the tiles the model sees."""
        ...


@dataclass(frozen=True)
class SegmentationOptions:
    """How a slide is tiled and stitched for the segmenter, and how the tile engine runs."""

    overlap: int | None = None  # tile pixels shared by neighbours (default a quarter tile)
    heatmap_factor: int = 2  # tile pixels per heatmap pixel (2: a 2 um/px model gives a 4 um/px heatmap)
    taper: bool = True  # blend overlaps linearly (tile borders weigh least); False: a plain average
    min_tissue: float = 0.02
    views: int = 1  # maps averaged over the tile and its mirror images: 1, 2 or 4 (ProbabilityModel)
    engine: EngineOptions = EngineOptions()


@dataclass
class SlideHeatmap:
    """A slide's segmentation: the heatmap, the tiles analysed among the grid's candidates, and the timings."""

    heatmap: Heatmap
    tiles: int
    tiles_total: int
    seconds: float
    engine: EngineStats = field(default_factory=EngineStats)

    def summary(self) -> str:
        """One log line: tiles, heatmap size and resolution, tumour share of tissue, time and engine figures."""
        h = self.heatmap
        tumour = float((h.probability[h.tissue] >= 0.5).mean()) if h.tissue.any() else 0.0
        return (
            f"{self.tiles} of {self.tiles_total} tiles with tissue, heatmap {h.shape[1]}x{h.shape[0]} px at "
            f"{h.mpp:.2f} um/px, {100 * tumour:.1f} % of tissue tumour, {self.seconds:.1f} s; {self.engine.line()}"
        )


def segmentation_grid(
    slide: SlideReader, config: TiledModel, options: SegmentationOptions, mask: TissueMask | None = None
) -> TileGrid:
    """The segmenter's tissue tiles at its resolution, neighbours sharing a quarter tile unless ``options`` says."""
    overlap = config.tile_size // 4 if options.overlap is None else options.overlap
    return tissue_grid(slide, config.tile_size, config.mpp, overlap, mask, options.min_tissue)


def segment_slide(
    slide: SlideReader,
    model: torch.nn.Module | TileModel,
    config: TiledModel,
    options: SegmentationOptions = SegmentationOptions(),
    device: torch.device | str = "cpu",
    transform: TileTransform | None = None,
    mask: TissueMask | None = None,
    grid: TileGrid | None = None,
) -> SlideHeatmap:
    """The slide's tumour heatmap; ``transform`` maps uint8 tiles (stain normalisation).

    ``model``: a module giving one logit map per tile (the kit's segmenter or
    any other), or a :class:`~algorithm.engine.TileModel` giving probabilities.
    """
    if options.heatmap_factor < 1 or config.tile_size % options.heatmap_factor:
        raise ConfigError(f"heatmap factor {options.heatmap_factor} must divide the tile size {config.tile_size}")
    start = time.perf_counter()
    mask = tissue_mask(slide) if mask is None else mask
    grid = segmentation_grid(slide, config, options, mask) if grid is None else grid
    downsample = grid.scale * options.heatmap_factor
    taper = grid.overlap // options.heatmap_factor if options.taper else 0
    stitcher = HeatmapStitcher(slide.dimensions, downsample, taper)
    size = stitcher.tile_size(grid.tiles[0]) if grid.tiles else (1, 1)
    tile_model = model if isinstance(model, TileModel) else ProbabilityModel(model, size=size, views=options.views)
    run = TileRun(slide, grid, tile_model, device, transform, options.engine)
    for result in run:
        for tile, probability in zip(result.tiles, result.output, strict=True):
            stitcher.add(tile, probability)
    tissue = tissue_on_grid(mask, stitcher.shape, downsample)
    heatmap = stitcher.result(tissue, mpp=slide.mpp_at(downsample))
    return SlideHeatmap(heatmap, len(grid), grid.candidates, time.perf_counter() - start, run.stats)
