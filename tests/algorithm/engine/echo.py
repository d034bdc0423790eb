"""A tile model for the engine's tests: its host output is its input batch."""

from __future__ import annotations

import numpy as np
import torch


class Echo:
    """A tile model whose host output is its input batch, as uint8 NHWC."""

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return tiles

    def postprocess(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def to_host(self, output: torch.Tensor) -> np.ndarray:
        return (output * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
