"""Tissue mask and tile grid against the synthetic slide's drawn truth."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from algorithm.slide import open_slide
from algorithm.tiling import tile_grid
from algorithm.tissue import tissue_mask


def _truth_mask(result) -> tuple[np.ndarray, float]:
    truth = json.loads(result.files.truth.read_text())
    mask = np.asarray(Image.open(result.files.slide.parent / truth["masks"]["tissue"]["file"])) > 127
    return mask, float(truth["masks"]["tissue"]["downsample"])


def test_mask_matches_drawn_tissue(synthetic_slide) -> None:
    truth, downsample = _truth_mask(synthetic_slide)
    with open_slide(synthetic_slide.files.slide) as slide:
        assert slide.mpp == (0.25, 0.25)
        found = tissue_mask(slide)
    # compare at the truth's resolution
    h, w = truth.shape
    ours = np.asarray(Image.fromarray(found.mask.astype(np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST)) > 127
    iou = (ours & truth).sum() / (ours | truth).sum()
    assert iou > 0.85, iou


def test_grid_covers_tissue_and_skips_glass(synthetic_slide) -> None:
    truth, downsample = _truth_mask(synthetic_slide)
    with open_slide(synthetic_slide.files.slide) as slide:
        mask = tissue_mask(slide)
        grid = tile_grid(slide, 256, 0, mpp=0.5, mask=mask, min_tissue=0.01)
    boxes = [
        (
            int(t.x / downsample),
            int(t.y / downsample),
            int(np.ceil((t.x + t.extent[0]) / downsample)),
            int(np.ceil((t.y + t.extent[1]) / downsample)),
        )
        for t in grid
    ]
    covered = np.zeros_like(truth)
    for x0, y0, x1, y1 in boxes:
        covered[y0:y1, x0:x1] = True
    assert (covered & truth).sum() / truth.sum() > 0.99  # every bit of drawn tissue is in some tile
    assert len(grid) < grid.candidates  # glass-only tiles were skipped
    assert all(truth[y0:y1, x0:x1].any() for x0, y0, x1, y1 in boxes)  # no kept tile is glass only
