"""Patch selection as the HER2 study did it: a grid of patches, glass, blood and nuclei-poor ones dropped.

The study reduced its slides to 1/4 (a 40x scan at 0.25 um/px read at 1 um/px), cut 296 px
patches, dropped glass (Otsu), blood (a red filter, on the colours before stain normalisation) and
patches with too little haematoxylin in the patch or in its neighbourhood (nuclei and the tissue
that supports them). Here:

1. the full grid of patches (:func:`~algorithm.tiling.tile_grid`, overlap 0: the last row and column
   flush with the slide's edge);
2. ONE low-resolution read of the whole slide (``filter_mpp``, at most
   :data:`~algorithm.patches.options.MAX_FILTER_SIDE` px a side): every filter is a share of area,
   which needs no detail, and per-patch reads were most of a slide's time in a source study;
3. per map (tissue, stained, blood, haematoxylin-positive) one summed-area table, read at each
   patch's and each neighbourhood's exact corners (:mod:`algorithm.patches.fractions`);
4. the kept patches as a :class:`~algorithm.tiling.TileGrid` the tile engine runs a model over.

A slide without tissue gives an empty selection; the same slide and options give the same patches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from algorithm.patches.fractions import box_shares, box_sums, map_boxes, ratios, summed_area_table
from algorithm.patches.haematoxylin import (
    REFERENCE_STAIN_MATRIX,
    fit_stain_matrix,
    glass_balanced,
    glass_of,
    haematoxylin_positive,
)
from algorithm.patches.options import MAX_FILTER_SIDE, PatchOptions
from algorithm.slide.base import SlideReader
from algorithm.stain.sampling import resize_mask
from algorithm.tiling.grid import TileGrid, tile_grid
from algorithm.tissue.blood import blood_mask
from algorithm.tissue.mask import TissueMask, tissue_mask_from_rgb

# The tissue mask made from the filter view is shrunk to about this (the kit's tissue_mask default).
MASK_MPP = 8.0
# What blood_fraction calls stained (not glass): the darkest channel below this.
STAINED_BELOW = 220
# Why a candidate patch was dropped, in the order the filters are applied (each patch counts once).
REASONS = ("glass", "blood", "nuclei", "context")
# What PatchSelection.fractions holds for every candidate.
FRACTIONS = ("tissue", "blood", "haematoxylin", "haematoxylin_context")

DEFAULT_PATCH_OPTIONS = PatchOptions()


@dataclass
class FilterView:
    """The one low-resolution read of the whole slide the filters run on."""

    rgb: NDArray[np.uint8]
    downsample: tuple[float, float]  # level-0 pixels per view pixel, (x, y)
    mpp: float  # microns per view pixel (mean of x and y)


@dataclass
class PatchSelection:
    """The kept patches (a grid for the tile engine) and what the filters measured on every candidate."""

    grid: TileGrid  # the kept patches, overlap 0, row-major; Tile.index is the candidate's index
    candidates: int  # patches in the full grid
    dropped: dict[str, int]  # reason ("glass", "blood", "nuclei", "context") -> patches dropped for it
    fractions: dict[str, NDArray[np.float64]]  # per candidate: tissue, blood, haematoxylin, haematoxylin_context
    boxes: NDArray[np.float64]  # per candidate: its level-0 box (x, y, w, h), for pictures
    options: PatchOptions = DEFAULT_PATCH_OPTIONS
    stain_matrix: NDArray[np.float64] = field(default_factory=lambda: REFERENCE_STAIN_MATRIX.copy())
    stain_fitted: bool = False  # False: the reference H&E matrix was used
    filter_mpp: float = 0.0  # the resolution the filters ran at (``options.filter_mpp`` or coarser)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.grid)

    @property
    def kept(self) -> NDArray[np.bool_]:
        """Per candidate, whether it was kept."""
        kept = np.zeros(self.candidates, dtype=bool)
        kept[[t.index for t in self.grid]] = True
        return kept

    def summary(self) -> str:
        """One log line: kept of candidates, the drops by reason, the resolution, the stain matrix, the time."""
        o = self.options
        drops = ", ".join(f"{reason} {self.dropped.get(reason, 0)}" for reason in REASONS)
        stain = "fitted" if self.stain_fitted else "reference"
        return (
            f"{len(self.grid)} of {self.candidates} patches kept ({o.size} px at {o.mpp:g} um/px; dropped {drops}; "
            f"filters at {self.filter_mpp:.2g} um/px, {stain} stain matrix) in {self.seconds:.2f} s"
        )


def filter_view(slide: SlideReader, filter_mpp: float, max_side: int = MAX_FILTER_SIDE) -> FilterView:
    """The whole slide at ``filter_mpp`` (coarser when that would exceed ``max_side`` px a side), read once."""
    w0, h0 = slide.dimensions
    scale = max(1.0, slide.downsample_for(filter_mpp))
    side = max(1, min(max_side, int(round(max(w0, h0) / scale))))
    rgb = slide.get_thumbnail(side)
    downsample = (w0 / rgb.shape[1], h0 / rgb.shape[0])
    return FilterView(rgb, downsample, slide.mpp_at((downsample[0] + downsample[1]) / 2))


def view_tissue_mask(view: FilterView, slide: SlideReader, mask_mpp: float = MASK_MPP) -> TissueMask:
    """The tissue mask from the filter view, shrunk to about ``mask_mpp`` first (what
    :func:`~algorithm.tissue.tissue_mask` works at, and a quarter of the pixels at 4 um/px): no second read."""
    factor = max(1, int(round(mask_mpp / view.mpp)))
    rgb = view.rgb
    if factor > 1:
        rgb = np.asarray(Image.fromarray(rgb).reduce(factor))  # box means; a partial last block is averaged too
    w0, h0 = slide.dimensions
    return tissue_mask_from_rgb(rgb, (w0 / rgb.shape[1], h0 / rgb.shape[0]), slide.mpp)


def context_boxes(boxes: NDArray[np.float64], context: int, dimensions: tuple[int, int]) -> NDArray[np.float64]:
    """Each box grown by ``context`` boxes on every side, cut to the slide (what lies beyond was not scanned)."""
    x0 = np.maximum(boxes[:, 0] - context * boxes[:, 2], 0.0)
    y0 = np.maximum(boxes[:, 1] - context * boxes[:, 3], 0.0)
    x1 = np.minimum(boxes[:, 0] + (context + 1) * boxes[:, 2], dimensions[0])
    y1 = np.minimum(boxes[:, 1] + (context + 1) * boxes[:, 3], dimensions[1])
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)


def select_patches(
    slide: SlideReader, mask: TissueMask | None = None, options: PatchOptions = DEFAULT_PATCH_OPTIONS
) -> PatchSelection:
    """The slide's patches at ``options.mpp`` that pass the study's filters, as a grid for the tile engine.

    ``mask``: the slide's tissue mask (e.g. :func:`~algorithm.tissue.tissue_mask`); None makes one from
    the filters' low-resolution read (:func:`view_tissue_mask`). Needs the slide's microns per pixel
    (SlideError without).
    """
    start = time.perf_counter()
    full = tile_grid(slide, options.size, 0, mpp=options.mpp)
    boxes = np.array([(t.x, t.y, t.extent[0], t.extent[1]) for t in full], dtype=np.float64).reshape(-1, 4)
    view = filter_view(slide, options.filter_mpp)
    if mask is None:
        mask = view_tissue_mask(view, slide)
    shape = view.rgb.shape[:2]
    patch = map_boxes(boxes, view.downsample, shape)
    around = map_boxes(context_boxes(boxes, options.context, slide.dimensions), view.downsample, shape)

    tissue = mask.box_fractions(boxes) if len(boxes) else np.zeros(0)
    n = len(boxes)
    blood = np.zeros(n)
    haem = np.zeros(n)
    haem_context = np.zeros(n)
    matrix, fitted = REFERENCE_STAIN_MATRIX.copy(), False
    tissue_ok = tissue >= options.min_tissue
    if tissue_ok.any():  # nothing else to measure on a slide without tissue
        stained = view.rgb.min(axis=-1) < STAINED_BELOW
        red = blood_mask(view.rgb) & stained
        blood = ratios(box_sums(summed_area_table(red), patch), box_sums(summed_area_table(stained), patch))
        del stained
        in_tissue = resize_mask(mask.mask, shape)
        balanced = glass_balanced(view.rgb, glass_of(view.rgb, in_tissue))  # optical density above the glass
        matrix, fitted = fit_stain_matrix(balanced, in_tissue & ~red)
        del red, in_tissue
        positive = summed_area_table(haematoxylin_positive(balanced, matrix, options.haematoxylin_threshold))
        haem = box_shares(positive, patch)
        haem_context = box_shares(positive, around)

    reason = np.full(n, "", dtype=object)
    checks = (
        ("glass", ~tissue_ok),
        ("blood", blood > options.max_blood),
        ("nuclei", haem < options.min_haematoxylin),
        ("context", haem_context < options.min_haematoxylin_context),
    )
    for name, failed in checks:
        reason[(reason == "") & failed] = name
    keep = reason == ""
    tiles = tuple(replace(t, tissue=float(tissue[t.index])) for t in full.tiles if keep[t.index])
    grid = replace(full, tiles=tiles)
    return PatchSelection(
        grid=grid,
        candidates=full.candidates,
        dropped={name: int((reason == name).sum()) for name in REASONS},
        fractions=dict(zip(FRACTIONS, (tissue, blood, haem, haem_context), strict=True)),
        boxes=boxes,
        options=options,
        stain_matrix=matrix,
        stain_fitted=fitted,
        filter_mpp=view.mpp,
        seconds=time.perf_counter() - start,
    )
