"""Test-time flips: each view's calls mapped back and fused (training/detector/flips.py)."""

from __future__ import annotations

import pytest
import torch

from training.detector.flips import FlipFusion


class DarkestPixel(torch.nn.Module):
    """One box on each tile's darkest pixel (centred on the pixel's centre), scored by its darkness."""

    def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """One call per tile."""
        found = []
        for tile in tiles.mean(dim=1):
            y, x = divmod(int(tile.argmin()), tile.shape[1])
            box = torch.tensor([[x - 3.5, y - 3.5, x + 4.5, y + 4.5]])
            found.append({"boxes": box, "scores": (1 - tile.min()).reshape(1), "labels": torch.tensor([1])})
        return found


class FixedBox(torch.nn.Module):
    """Calls one box at the same tile pixels whatever the tile shows: where a flipped view's call lands back."""

    def __init__(self, box: list[float], score: float) -> None:
        super().__init__()
        self.box, self.score = box, score

    def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """The same call on every tile."""
        one = {"boxes": torch.tensor([self.box]), "scores": torch.tensor([self.score]), "labels": torch.tensor([1])}
        return [dict(one) for _ in tiles]


def test_a_call_every_view_agrees_on_keeps_its_box_and_score() -> None:
    tiles = torch.full((2, 3, 64, 64), 0.9)
    tiles[0, :, 20, 41] = 0.1  # one darkest pixel per tile: every flip finds the same cell
    tiles[1, :, 50, 7] = 0.3
    plain = DarkestPixel()(tiles)
    fused = FlipFusion(DarkestPixel())(tiles)
    for one, four in zip(plain, fused, strict=True):
        torch.testing.assert_close(four["boxes"], one["boxes"])
        torch.testing.assert_close(four["scores"], one["scores"])
        assert four["labels"].tolist() == [1]


def test_a_call_of_one_view_only_keeps_a_quarter_of_its_score() -> None:
    tiles = torch.zeros((1, 3, 64, 64))
    # a box off-centre lands, unflipped, at four places: four groups of one view each
    (fused,) = FlipFusion(FixedBox([4.0, 4.0, 12.0, 12.0], 0.8))(tiles)
    assert fused["scores"].tolist() == pytest.approx([0.2] * 4)
    centres = sorted(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in fused["boxes"].tolist())
    assert centres == [(8.0, 8.0), (8.0, 56.0), (56.0, 8.0), (56.0, 56.0)]
    # a box at the tile's centre is the same call in every view
    (centred,) = FlipFusion(FixedBox([28.0, 28.0, 36.0, 36.0], 0.8))(tiles)
    assert centred["scores"].tolist() == pytest.approx([0.8]) and centred["boxes"].tolist() == [
        [28.0, 28.0, 36.0, 36.0]
    ]


def test_no_calls_give_an_empty_result() -> None:
    class Nothing(torch.nn.Module):
        def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
            """No call on any tile."""
            return [
                {"boxes": torch.zeros((0, 4)), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}
            ] * len(tiles)

    (fused,) = FlipFusion(Nothing())(torch.zeros((1, 3, 32, 32)))
    assert fused["boxes"].shape == (0, 4) and len(fused["scores"]) == 0
