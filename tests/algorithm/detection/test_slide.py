"""Whole-slide detection's grid and candidates: a small image centred in its tile, nothing called off the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from algorithm.detection.predict import Candidates
from algorithm.detection.slide import (
    DetectionOptions,
    SlideDetections,
    detect_slide,
    detection_grid,
    detection_model,
    inside,
)
from algorithm.engine import EngineOptions
from algorithm.engine.models import DetectionModel, HostDetections
from algorithm.errors import ConfigError
from algorithm.models.detector import DetectorConfig
from algorithm.slide import open_slide
from algorithm.tissue import tissue_mask
from tests.conftest import blob_image, write_pyramid_tiff


class CentreAndCorner:
    """A tile model that calls two figures in every tile: at its centre and 4 px from its top-left corner."""

    def __init__(self) -> None:
        self.tiles: list[NDArray[np.uint8]] = []

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return tiles

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def to_host(self, output: torch.Tensor) -> HostDetections:
        self.tiles.extend((output * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
        n, size = output.shape[0], output.shape[-1]
        centre = [size / 2 - 4, size / 2 - 4, size / 2 + 4, size / 2 + 4]
        boxes = np.array([centre, [0, 0, 8, 8]] * n, np.float32)
        return HostDetections(boxes, np.full(2 * n, 0.9), np.ones(2 * n, np.int64), np.repeat(np.arange(n), 2))


def test_a_crop_smaller_than_a_tile_is_centred_and_nothing_is_called_off_it(tmp_path: Path) -> None:
    """A 128 px crop at 0.25 um/px is 64 px of a 256 px tile at 0.5: it lies in the tile's middle (the detector
    sees glass, not the tile's border, round its cells), and a call in the glass past its edge is dropped."""
    path = write_pyramid_tiff(tmp_path / "crop.tiff", blob_image(128, 128, seed=1), mpp=0.25, levels=1)
    config = DetectorConfig(tile_size=256, mpp=0.5)
    model = CentreAndCorner()
    with open_slide(path) as crop:
        grid = detection_grid(crop, config, DetectionOptions(), tissue_mask(crop))
        assert [(t.x, t.y) for t in grid] == [(-192, -192)]  # (256 - 64) / 2 tile px, 2 level-0 px each
        found = detect_slide(crop, model, config, grid=grid)
    np.testing.assert_array_equal(found.candidates.points, [[64.0, 64.0]])  # the crop's centre; the corner's gone
    assert found.raw_candidates == 1
    (tile,) = model.tiles
    stained = np.any(tile < 230, axis=-1)
    rows, cols = np.flatnonzero(stained.any(axis=1)), np.flatnonzero(stained.any(axis=0))
    assert min(rows[0], cols[0]) >= 96 and max(rows[-1], cols[-1]) < 160  # the crop, mid-tile
    assert (tile[:96] == tile[0, 0]).all() and (tile[160:] == tile[0, 0]).all()  # glass above and below


class OffCentre(torch.nn.Module):
    """A torch detector calling one figure in every tile, off the tile's centre (its mirror images call it
    elsewhere)."""

    def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        box = torch.tensor([[106.0, 116.0, 114.0, 124.0]])  # centre (110, 120) in tile pixels
        return [{"boxes": box, "scores": torch.tensor([0.8]), "labels": torch.tensor([1])} for _ in tiles]


def test_the_config_s_views_are_run_and_fused(tmp_path: Path) -> None:
    """A detector config with 4 views runs the tile and its mirror images: a call the model makes in one view
    only (here: wherever the view puts the same pixels) keeps a quarter of its score, at four places."""
    path = write_pyramid_tiff(tmp_path / "crop.tiff", blob_image(128, 128, seed=1), mpp=0.25, levels=1)
    plain, flipped = DetectorConfig(tile_size=256, mpp=0.5), DetectorConfig(tile_size=256, mpp=0.5, views=4)
    model = detection_model(OffCentre(), flipped)
    assert isinstance(model, DetectionModel) and model.views == 4
    assert model.radius_px == 10.0  # 5 um at 0.5 um/px
    with open_slide(path) as crop:
        plain_found, flipped_found = detect_slide(crop, OffCentre(), plain), detect_slide(crop, OffCentre(), flipped)
    one, four = plain_found.candidates, flipped_found.candidates
    assert "1 of 1 tiles with tissue, " in plain_found.summary()
    assert "1 of 1 tiles with tissue (4 views each), " in flipped_found.summary()
    # tile (-192, -192) at 2 level-0 px per tile px; the crop spans tile px 96-160
    np.testing.assert_array_equal(one.points, [[28.0, 48.0]])
    np.testing.assert_allclose(one.scores, [0.8])
    assert sorted(map(tuple, four.points.tolist())) == [(28.0, 48.0), (28.0, 80.0), (100.0, 48.0), (100.0, 80.0)]
    np.testing.assert_allclose(four.scores, [0.2] * 4)


def test_inside_keeps_the_candidates_on_the_slide() -> None:
    points = np.array([[0.0, 0.0], [-0.5, 10.0], [99.9, 49.9], [100.0, 10.0], [10.0, 50.0]])
    kept = inside(Candidates(points, np.arange(5.0), np.ones(5, np.int64)), (100, 50))
    np.testing.assert_array_equal(kept.scores, [0.0, 2.0])


def test_the_summary_counts_the_candidates_the_outputs_list() -> None:
    """Imposters (class 2) are detected but never written: the log's candidates are the figures' class only."""
    candidates = Candidates(np.zeros((4, 2)), np.array([0.9, 0.3, 0.8, 0.1]), np.array([1, 1, 2, 2]))
    found = SlideDetections(candidates, (0.25, 0.25), tiles=3, tiles_total=5, raw_candidates=9, seconds=1.0)
    assert "3 of 5 tiles with tissue, 1 mitotic figures (2 candidates)" in found.summary(threshold=0.5)


def test_the_package_exports_what_a_user_calls() -> None:
    import algorithm.detection as package
    from algorithm.detection import DetectionOptions as Exported
    from algorithm.detection import detect_slide as exported

    assert exported is detect_slide and Exported is DetectionOptions
    assert set(package.__all__) == {
        "Candidates",
        "DetectionOptions",
        "SlideDetections",
        "detect_slide",
        "detection_grid",
        "detection_model",
        "slide_detections",
    }
    assert all(hasattr(package, name) for name in package.__all__)


class OneDictPerBatch(torch.nn.Module):
    """A detector that returns one dict for the whole batch: its detections would all land on the first tile."""

    def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        box = torch.tensor([[10.0, 10.0, 20.0, 20.0]])
        return [{"boxes": box, "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}]


def test_a_detector_returning_another_count_of_results_than_tiles_stops_with_a_config_error(tmp_path: Path) -> None:
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(600, 400, seed=3), mpp=0.5, levels=1)
    config = DetectorConfig(tile_size=64, mpp=0.5)
    options = DetectionOptions(engine=EngineOptions(batch_size=4))
    with (
        open_slide(path) as slide,
        pytest.raises(ConfigError, match=r"^the detector returned 1 result for a batch of 4 tiles"),
    ):
        detect_slide(slide, OneDictPerBatch(), config, options)
