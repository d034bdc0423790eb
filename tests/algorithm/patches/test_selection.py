"""Patch selection on a composed slide: glass, blood, eosin-only tissue and a lone fragment dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from algorithm.engine import EngineOptions, TileRun
from algorithm.patches import PatchSelection, select_patches
from algorithm.patches.selection import context_boxes, filter_view
from algorithm.slide import SlideReader, open_slide
from algorithm.tiling import TileGrid, read_tile
from algorithm.tissue import TissueMask, tissue_mask
from tests.algorithm.patches.conftest import (
    BLOODY,
    COLS,
    EOSIN_ONLY,
    EXTENT,
    FRAGMENT,
    PATCH,
    ROWS,
    candidate,
    patch_options,
    write_composed,
)

GLASS_COLUMNS = [candidate(c, r) for r in range(ROWS) for c in (0, 1) if (c, r) != FRAGMENT]
CELLULAR = [
    candidate(c, r) for r in range(ROWS) for c in range(2, COLS) if (c, r) not in EOSIN_ONLY and (c, r) not in BLOODY
]


def _reasons(selection: PatchSelection) -> dict[int, str]:
    """Why each dropped candidate was dropped, re-derived from the fractions and the options."""
    o, f = selection.options, selection.fractions
    out = {}
    for i in range(selection.candidates):
        if f["tissue"][i] < o.min_tissue:
            out[i] = "glass"
        elif f["blood"][i] > o.max_blood:
            out[i] = "blood"
        elif f["haematoxylin"][i] < o.min_haematoxylin:
            out[i] = "nuclei"
        elif f["haematoxylin_context"][i] < o.min_haematoxylin_context:
            out[i] = "context"
    return out


def test_each_region_is_kept_or_dropped_for_its_reason(composed: SlideReader) -> None:
    selection = select_patches(composed, None, patch_options())
    reasons = _reasons(selection)
    assert selection.candidates == ROWS * COLS
    assert all(reasons.get(i) == "glass" for i in GLASS_COLUMNS)
    assert all(reasons.get(candidate(*p)) == "blood" for p in BLOODY)
    assert all(reasons.get(candidate(*p)) == "nuclei" for p in EOSIN_ONLY)
    kept = {t.index for t in selection.grid}
    assert set(CELLULAR) <= kept
    assert kept == set(range(selection.candidates)) - set(reasons)
    assert selection.dropped == {
        "glass": len(GLASS_COLUMNS),
        "blood": len(BLOODY),
        "nuclei": len(EOSIN_ONLY),
        "context": 0,
    }
    assert selection.stain_fitted
    f = selection.fractions
    assert set(f) == {"tissue", "blood", "haematoxylin", "haematoxylin_context"}
    assert all(v.shape == (selection.candidates,) for v in f.values())
    assert f["tissue"][CELLULAR].min() > 0.95 and f["tissue"][GLASS_COLUMNS].max() < 0.05
    assert f["blood"][CELLULAR].max() < 0.05 and f["blood"][[candidate(*p) for p in BLOODY]].min() > 0.9
    assert f["haematoxylin"][[candidate(*p) for p in EOSIN_ONLY]].max() < 0.03
    np.testing.assert_array_equal(selection.kept, np.isin(np.arange(selection.candidates), sorted(kept)))


def test_a_lone_fragment_lacks_supporting_tissue(composed: SlideReader) -> None:
    fragment = candidate(*FRAGMENT)
    assert fragment in {t.index for t in select_patches(composed, None, patch_options()).grid}
    strict = select_patches(composed, None, patch_options(min_haematoxylin_context=0.1))
    assert _reasons(strict)[fragment] == "context"
    assert strict.fractions["haematoxylin"][fragment] > 0.1  # enough nuclei of its own
    # cellular tissue surrounded by cellular tissue keeps its context
    assert {candidate(3, 4), candidate(5, 5), candidate(6, 1)} <= {t.index for t in strict.grid}
    # no context: the patch's own share
    alone = select_patches(composed, None, patch_options(context=0))
    np.testing.assert_allclose(alone.fractions["haematoxylin_context"], alone.fractions["haematoxylin"])


def test_the_grid_is_what_the_tile_engine_takes(composed: SlideReader) -> None:
    selection = select_patches(composed, tissue_mask(composed), patch_options())
    grid = selection.grid
    assert isinstance(grid, TileGrid)
    assert (grid.tile_size, grid.overlap, grid.candidates) == (PATCH, 0, selection.candidates)
    assert grid.scale == pytest.approx(2.0)  # 1 um/px from 0.5 um/px
    for tile in grid:
        assert (tile.size, tile.extent) == ((PATCH, PATCH), (EXTENT, EXTENT))
        assert (tile.x, tile.y) == ((tile.index % COLS) * EXTENT, (tile.index // COLS) * EXTENT)
        assert tuple(selection.boxes[tile.index]) == (tile.x, tile.y, EXTENT, EXTENT)
        assert tile.tissue == selection.fractions["tissue"][tile.index]
    # the low-resolution fractions sit where the tiles are: a kept tile's pixels are stained, not glass
    for tile in grid.tiles[:5]:
        assert (read_tile(composed, grid, tile).min(axis=-1) < 220).mean() > 0.9

    class Mean:
        def forward(self, tiles: torch.Tensor) -> torch.Tensor:
            return tiles.mean(dim=(1, 2, 3))

        def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
            return raw

        def to_host(self, output: torch.Tensor) -> np.ndarray:
            return output.numpy()

    results = list(TileRun(composed, grid, Mean(), "cpu", options=EngineOptions(batch_size=8, workers=1)))
    assert [t for r in results for t in r.tiles] == list(grid.tiles)
    means = np.concatenate([r.output for r in results])
    expected = [read_tile(composed, grid, t).mean() / 255.0 for t in grid]
    np.testing.assert_allclose(means, expected, atol=1e-5)


def test_a_slide_without_tissue_gives_an_empty_selection(tmp_path: Path) -> None:
    with open_slide(write_composed(tmp_path / "glass.tiff", tissue=False)) as slide:
        selection = select_patches(slide, None, patch_options())
        empty_mask = TissueMask(np.zeros((10, 10), dtype=bool), (slide.dimensions[0] / 10, slide.dimensions[1] / 10))
        also = select_patches(slide, empty_mask, patch_options())
    for s in (selection, also):
        assert len(s) == len(s.grid) == 0 and s.candidates == ROWS * COLS
        assert s.dropped["glass"] == s.candidates
        assert not s.stain_fitted
        assert "0 of 48 patches kept" in s.summary()


def test_the_same_slide_gives_the_same_selection(composed: SlideReader, composed_path: Path) -> None:
    first = select_patches(composed, None, patch_options())
    with open_slide(composed_path) as again:
        second = select_patches(again, None, patch_options())
    assert first.grid == second.grid and first.dropped == second.dropped
    for key, values in first.fractions.items():
        np.testing.assert_array_equal(values, second.fractions[key])
    np.testing.assert_array_equal(first.stain_matrix, second.stain_matrix)


def test_summary_is_one_line_with_the_counts(composed: SlideReader) -> None:
    line = select_patches(composed, None, patch_options()).summary()
    assert "\n" not in line
    assert line.startswith("29 of 48 patches kept (96 px at 1 um/px; dropped glass 11, blood 4, nuclei 4, context 0;")
    assert "filters at 4 um/px, fitted stain matrix" in line


def test_the_filter_view_is_one_small_read(composed: SlideReader) -> None:
    view = filter_view(composed, 4.0)
    assert view.rgb.shape == (ROWS * EXTENT // 8, COLS * EXTENT // 8, 3) and view.mpp == pytest.approx(4.0)
    clamped = filter_view(composed, 0.5, max_side=256)
    assert max(clamped.rgb.shape[:2]) == 256 and clamped.mpp == pytest.approx(COLS * EXTENT * 0.5 / 256)


def test_context_boxes_grow_by_whole_patches_and_stop_at_the_slide() -> None:
    boxes = np.array([[0.0, 0.0, 100.0, 100.0], [300.0, 200.0, 100.0, 100.0]])
    grown = context_boxes(boxes, 1, (450, 1000))
    np.testing.assert_array_equal(grown, [[0, 0, 200, 200], [200, 100, 250, 300]])
