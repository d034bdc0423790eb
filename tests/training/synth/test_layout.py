from __future__ import annotations

import numpy as np

from training.synth.config import SynthConfig
from training.synth.layout import OCCUPANCY_STEP, PointSampler, build_layout, fields, grid_for, tissue_mask, tumour_mask

from .conftest import NORMAL, TUMOUR


def test_layout_is_deterministic_and_ignores_the_scanner():
    a = build_layout(TUMOUR)
    b = build_layout(TUMOUR.replace(scanner="D"))
    assert a.tumour == b.tumour and a.vessels == b.vessels and a.glands == b.glands
    assert a.tissue_threshold == b.tissue_threshold
    other = build_layout(TUMOUR.replace(seed=TUMOUR.seed + 1))
    assert other.tumour != a.tumour


def test_normal_slides_have_no_tumour():
    layout = build_layout(NORMAL)
    assert layout.tumour is None
    assert not tumour_mask(layout, 8).any()


def test_tissue_covers_part_of_the_slide_and_avoids_its_edges():
    for cfg in (TUMOUR, NORMAL, SynthConfig(seed=3, width=6000, height=3000)):
        mask = tissue_mask(build_layout(cfg), 8)
        assert 0.2 < mask.mean() < 0.8
        assert not mask[0].any() and not mask[-1].any() and not mask[:, 0].any() and not mask[:, -1].any()


def test_tumour_lies_inside_tissue():
    layout = build_layout(TUMOUR)
    tumour = tumour_mask(layout, 4)
    tissue = tissue_mask(layout, 4)
    assert tumour.sum() > 1000
    assert (tumour & tissue).sum() / tumour.sum() > 0.99


def test_grid_and_point_fields_agree():
    layout = build_layout(TUMOUR)
    s = grid_for(layout, 8.0)
    grid = fields(layout, s)
    rows, cols = np.meshgrid(np.arange(0, s.shape[0], 7), np.arange(0, s.shape[1], 7), indexing="ij")
    pts = fields(layout, PointSampler(s.xs[cols], s.ys[rows]))
    for name in ("tissue", "tumour", "nest", "lumen", "gland"):
        g = getattr(grid, name)[rows, cols]
        p = getattr(pts, name)
        # Soft edges are a pixel wide at this scale, so only edge pixels may differ.
        assert np.mean(np.abs(g - p) > 0.2) < 0.02, name


def test_occupancy_covers_all_tissue():
    """The fast skip never drops tissue: every tissue pixel lies in an occupied coarse cell."""
    layout = build_layout(TUMOUR)
    mask = tissue_mask(layout, 8)
    rows, cols = np.nonzero(mask)
    occupancy = layout.occupancy
    assert occupancy is not None
    occ = occupancy[(rows * 8) // OCCUPANCY_STEP, (cols * 8) // OCCUPANCY_STEP]
    assert occ.all()
    assert not occupancy.all()  # and it does skip something


def test_large_slides_build_in_bounded_memory():
    """Layout, masks and low-level tiles of a 50k x 50k slide need megabytes, not gigabytes."""
    import tracemalloc

    from training.synth.render import render_region

    cfg = SynthConfig(seed=0, width=50_000, height=50_000)
    tracemalloc.start()
    try:
        layout = build_layout(cfg)
        tumour_mask(layout, 32)
        render_region(cfg, 0, 0, 256, 256, 64.0)
        assert layout.tumour is not None
        render_region(cfg, int(layout.tumour.cx), int(layout.tumour.cy), 256, 256, 4.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 600 * 2**20
