"""A tile model seeing its tiles through another scanner's optics (training/detector/scanner_view.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from algorithm.engine import TileModel
from tests.conftest import blob_image
from training.detector.scanner_view import ScannerView
from training.scanner_augment import ScannerAugment


class Seen:
    """A tile model that keeps what it was shown."""

    def __init__(self) -> None:
        self.shown: list[torch.Tensor] = []

    def forward(self, tiles: torch.Tensor) -> Any:
        self.shown.append(tiles)
        return tiles.mean()

    def postprocess(self, raw: Any) -> Any:
        return raw * 2

    def to_host(self, output: Any) -> Any:
        return float(output)


def _tiles() -> torch.Tensor:
    images = np.stack([blob_image(64, 64, seed=k) for k in range(3)])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def test_without_augmentation_the_model_sees_the_tiles_as_given() -> None:
    inner, tiles = Seen(), _tiles()
    view = ScannerView(inner, ScannerAugment(p=0.0), np.random.default_rng(0))
    assert isinstance(view, TileModel)
    out = view.to_host(view.postprocess(view.forward(tiles)))
    assert torch.equal(inner.shown[0], tiles) and out == float(tiles.mean() * 2)


def test_the_model_sees_blurred_compressed_noisy_tiles_drawn_from_the_seed() -> None:
    tiles = _tiles()
    shown = []
    for _ in range(2):
        inner = Seen()
        ScannerView(inner, ScannerAugment(p=1.0), np.random.default_rng(3)).forward(tiles)
        shown.append(inner.shown[0])
    assert torch.equal(shown[0], shown[1])  # the same seed, the same tiles
    assert shown[0].shape == tiles.shape and shown[0].dtype == tiles.dtype
    assert not torch.equal(shown[0], tiles) and shown[0].min() >= 0 and shown[0].max() <= 1
    assert (shown[0] * 255 - (shown[0] * 255).round()).abs().max() < 1e-4  # still whole grey levels
