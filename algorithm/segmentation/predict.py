"""Running a segmenter on a batch of tiles: probabilities at the heatmap's resolution."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from algorithm.device import autocast, to_tensor
from algorithm.tiling.stream import TileBatch


@torch.inference_mode()
def predict_probabilities(
    model: torch.nn.Module, batch: TileBatch, device: torch.device, size: tuple[int, int], amp: bool = True
) -> NDArray[np.float32]:
    """Tumour probability per tile, area-averaged on the device to ``size`` (w, h): (N, h, w) float32."""
    with autocast(device, amp):
        logits = model(to_tensor(batch.pixels, device))
    probability = torch.sigmoid(logits.float())
    if probability.shape[-1] != size[0] or probability.shape[-2] != size[1]:
        probability = F.interpolate(probability, size=(size[1], size[0]), mode="area")
    return probability[:, 0].cpu().numpy()
