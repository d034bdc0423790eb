"""Shared by the detector's tests: small crop stacks, a trivial detector, an untrained detector checkpoint and
detections as given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from algorithm.detection.predict import Candidates
from algorithm.detection.slide import SlideDetections
from algorithm.models import DetectorConfig, build_detector, save_checkpoint


def detections_at(
    points: list[tuple[float, float]], scores: list[float], labels: list[int], mpp: float = 0.25
) -> SlideDetections:
    """A slide's detections as given (level-0 points at ``mpp`` um per pixel), for scoring code's tests."""
    candidates = Candidates(np.array(points, dtype=np.float64).reshape(-1, 2), np.array(scores), np.array(labels))
    return SlideDetections(candidates, (mpp, mpp), tiles=1, tiles_total=1, raw_candidates=len(scores), seconds=0.0)


class DarkestSpot(torch.nn.Module):
    """A real, if trivial, detector: one mitotic-figure box on each tile's darkest pixel, scored by its darkness."""

    def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        grey = tiles.float().mean(dim=1)
        grey = grey / 255 if grey.max() > 1 else grey
        found = []
        for tile in grey:
            at = int(tile.argmin())
            y, x = divmod(at, tile.shape[1])
            box = torch.tensor([[x - 4.0, y - 4.0, x + 4.0, y + 4.0]])
            found.append({"boxes": box, "scores": (1 - tile.min()).reshape(1), "labels": torch.tensor([1])})
        return found


STROMA = (205, 160, 200)


def crop_image(dark_at: tuple[int, int] | None) -> np.ndarray:
    """A 128 px crop of pale stroma with a dark disc (radius 6 px) at ``dark_at``, or none (all tissue, as a real
    crop round a cell is)."""
    crop = np.full((128, 128, 3), STROMA, np.uint8)
    if dark_at is not None:
        yy, xx = np.mgrid[0:128, 0:128]
        crop[np.hypot(xx - dark_at[0], yy - dark_at[1]) < 6] = (40, 20, 70)
    return crop


def crop_stack(path: Path, pages: list[np.ndarray]) -> Path:
    """``pages`` written as a multi-page RGB TIFF at ``path``."""
    with tifffile.TiffWriter(path) as tif:
        for page in pages:
            tif.write(page, photometric="rgb")
    return path


@pytest.fixture(scope="module")
def untrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small randomly initialised detector checkpoint with a decision threshold."""
    config = DetectorConfig(tile_size=64, mpp=0.5)
    path = tmp_path_factory.mktemp("model") / "detector.pt"
    save_checkpoint(path, "detector", config.to_dict(), build_detector(config), extra={"threshold": 0.5})
    return path
