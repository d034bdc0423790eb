"""A detector that sees its tiles through another scanner's optics: for mining hard negatives.

The miner (``hard_negatives.py``) runs the model over the training slides as
stored, so it finds the mistakes the model makes on the training scanners. On
an unseen scanner with softer optics (issue 12's scanner C) the false calls
were ordinary tumour nuclei that blur makes dark and compact, mistakes the
training scanners never show the miner. Here the engine's tiles are blurred,
JPEG-compressed and noised (:class:`training.scanner_augment.ScannerAugment`)
after stain normalisation and before the network, as the training patches are
(``--scanner-augment``), so the miner pools what the model calls on such a
scanner. Not through the engine's pixel map, which must map each pixel alone.
The draws follow the batches' order, which the engine keeps whatever the
timing: the same seed mines the same points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from algorithm.engine import TileModel
from training.scanner_augment import ScannerAugment


class ScannerView:
    """``model`` (a tile model) run on its tiles after ``augment``, drawn from ``rng`` batch by batch."""

    def __init__(self, model: TileModel, augment: ScannerAugment, rng: np.random.Generator) -> None:
        self.model, self.augment, self.rng = model, augment, rng

    def forward(self, tiles: torch.Tensor) -> Any:
        """The network on the batch ``(N, 3, H, W)`` in [0, 1] as the other scanner would have shown it."""
        images = (tiles.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        seen = torch.from_numpy(self.augment(images, self.rng)).permute(0, 3, 1, 2).to(tiles.device, tiles.dtype)
        return self.model.forward(seen / 255)

    def postprocess(self, raw: Any) -> Any:
        """The model's own post-processing."""
        return self.model.postprocess(raw)

    def to_host(self, output: Any) -> Any:
        """The model's own copy to the host."""
        return self.model.to_host(output)
