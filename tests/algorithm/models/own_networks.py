"""Networks of a participant's own, not the kit's architectures: for the tests of program checkpoints."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DarkSpots(nn.Module):
    """A detector: one box per tile, around its darkest ``block`` x ``block`` square, scored by its darkness."""

    def __init__(self, block: int = 8) -> None:
        super().__init__()
        self.block = block

    def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        dark = 1 - F.avg_pool2d(tiles.mean(1, keepdim=True), self.block)
        width = dark.shape[-1]
        score, index = dark.flatten(1).max(1)
        half = self.block // 2
        found: list[dict[str, torch.Tensor]] = []
        for i in range(tiles.shape[0]):
            x = (index[i] % width).float() * self.block + half
            y = torch.div(index[i], width, rounding_mode="floor").float() * self.block + half
            box = torch.stack([x - half, y - half, x + half, y + half]).unsqueeze(0)
            found.append({"boxes": box, "scores": score[i : i + 1], "labels": torch.ones(1, dtype=torch.int64)})
        return found


class Darkness(nn.Module):
    """A segmenter: a logit map of how dark each 4 x 4 block is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 8 * (0.7 - F.avg_pool2d(x.mean(1, keepdim=True), 4))
