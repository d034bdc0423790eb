"""Mitotic-figure detection over a whole slide.

tissue mask -> tile grid at the detector's resolution (only tissue tiles) ->
the tile engine (parallel reading, stain normalisation, the detector with
batched post-processing) -> box centres in level-0 pixels -> slide-level
distance NMS per class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from algorithm.detection.nms import classwise_distance_nms
from algorithm.detection.predict import Candidates, slide_candidates
from algorithm.engine import DetectionModel, EngineOptions, EngineStats, TileModel, TileRun, TileTransform
from algorithm.models.detector import DetectorConfig
from algorithm.slide import units
from algorithm.slide.base import SlideReader
from algorithm.stain.slide_fit import slide_normaliser
from algorithm.stain.spec import StainSpec
from algorithm.tiling import TileGrid, tissue_grid
from algorithm.tissue import TissueMask


@dataclass(frozen=True)
class DetectionOptions:
    """How a slide is tiled for the detector, how duplicates merge, and how the tile engine runs."""

    overlap: int | None = None  # tile pixels shared by neighbours (default 1/8 tile: 32 um, wider than a cell)
    min_tissue: float = 0.05
    nms_radius_um: float = 6.25  # MIDOG's reference: 25 px at 0.25 um/px
    candidate_threshold: float = 0.05  # kept for AP/FROC
    engine: EngineOptions = EngineOptions()


VIEW_RADIUS_UM = 5.0  # test-time views: calls whose centres lie this close are one call (inside one figure)


@dataclass
class SlideDetections:
    """A slide's detections after NMS, with the tiles analysed, the candidates before NMS and the timings."""

    candidates: Candidates  # after NMS, level-0 pixels
    mpp: tuple[float, float]
    tiles: int
    tiles_total: int
    raw_candidates: int
    seconds: float
    engine: EngineStats = field(default_factory=EngineStats)
    views: int = 1  # test-time views each tile was detected in

    def points_mm(self) -> NDArray[np.float64]:
        """The candidates' centres in millimetres, as grand-challenge's outputs want them."""
        return units.pixels_to_mm(self.candidates.points, self.mpp)

    def summary(self, threshold: float = 0.5, label: int = 1) -> str:
        """One log line: tiles, figures of ``label`` at or above ``threshold``, the candidates of ``label`` (what
        the outputs list; other classes, such as imposters, are not written), time and engine figures."""
        c = self.candidates
        mine = c.labels == label
        found = int((mine & (c.scores >= threshold)).sum())
        views = f" ({self.views} views each)" if self.views > 1 else ""
        return (
            f"{self.tiles} of {self.tiles_total} tiles with tissue{views}, {found} mitotic figures "
            f"({int(mine.sum())} candidates), {self.seconds:.1f} s; {self.engine.line()}"
        )


def detection_grid(
    slide: SlideReader, config: DetectorConfig, options: DetectionOptions, mask: TissueMask | None = None
) -> TileGrid:
    """The detector's tissue tiles at its resolution, neighbours sharing an eighth of a tile unless ``options``
    says; an image smaller than a tile (a crop round one cell) centred in its tile, so that the detector sees
    glass on every side of it rather than the tile's border."""
    overlap = config.tile_size // 8 if options.overlap is None else options.overlap
    return tissue_grid(slide, config.tile_size, config.mpp, overlap, mask, options.min_tissue, centred=True)


def detection_model(model: torch.nn.Module | TileModel, config: DetectorConfig, min_score: float = 0.05) -> TileModel:
    """The detector as the engine runs it: a tile model as it is; a torch detector with the test-time views its
    config names (``config.views``), calls scoring under ``min_score`` dropped."""
    if isinstance(model, TileModel):
        return model
    views = getattr(config, "views", 1)  # a participant's own config may not name any: one view
    return DetectionModel(model, min_score, views=views, radius_px=VIEW_RADIUS_UM / config.mpp)


def detect_slide(
    slide: SlideReader,
    model: torch.nn.Module | TileModel,
    config: DetectorConfig,
    options: DetectionOptions = DetectionOptions(),
    device: torch.device | str = "cpu",
    transform: TileTransform | None = None,
    grid: TileGrid | None = None,
) -> SlideDetections:
    """Detect over the slide's tissue; ``transform`` maps uint8 tiles (stain normalisation).

    ``model``: the kit's RetinaNet, any torch detector returning torchvision's
    dicts (both run with ``config.views``), or a :class:`~algorithm.engine.TileModel`.
    A torch module is wrapped in :class:`~algorithm.engine.DetectionModel`: put in eval
    mode, moved to ``device``, and its output checked batch by batch (one dict of boxes
    ``(K, 4)``, scores ``(K,)`` and labels ``(K,)`` tensors per tile, else a ConfigError).
    """
    start = time.perf_counter()
    grid = detection_grid(slide, config, options) if grid is None else grid
    tile_model = detection_model(model, config, options.candidate_threshold)
    run = TileRun(slide, grid, tile_model, device, transform, options.engine)
    raw = inside(Candidates.concat([slide_candidates(result.tiles, result.output) for result in run]), slide.dimensions)
    radius_px = units.um_to_pixels(options.nms_radius_um, slide.mpp)
    kept = raw.take(classwise_distance_nms(raw.points, raw.scores, raw.labels, radius_px))
    order = np.lexsort((kept.points[:, 1], kept.points[:, 0], -kept.scores))  # stable, deterministic output
    return SlideDetections(
        candidates=kept.take(order),
        mpp=slide.mpp,
        tiles=len(grid),
        tiles_total=grid.candidates,
        raw_candidates=len(raw),
        seconds=time.perf_counter() - start,
        engine=run.stats,
        views=tile_model.views if isinstance(tile_model, DetectionModel) else 1,
    )


def inside(candidates: Candidates, size: tuple[int, int]) -> Candidates:
    """The candidates whose centre lies on the slide (a tile past a small image's edge sees only glass there)."""
    x, y = candidates.points[:, 0], candidates.points[:, 1]
    return candidates.take(np.flatnonzero((x >= 0) & (y >= 0) & (x < size[0]) & (y < size[1])))


def slide_detections(
    slide: SlideReader,
    mask: TissueMask,
    model: torch.nn.Module,
    config: DetectorConfig,
    stain: StainSpec | None,
    device: torch.device | str = "cpu",
    options: DetectionOptions = DetectionOptions(),
) -> SlideDetections:
    """Detection as the container runs it: tissue grid, stain normalisation fitted to this slide
    (spec ``stain`` from the detector's checkpoint), model, NMS."""
    grid = detection_grid(slide, config, options, mask)
    transform = slide_normaliser(stain, slide, mask, grid.level, pixels=grid.pixels)
    return detect_slide(slide, model, config, options, device, transform, grid)
