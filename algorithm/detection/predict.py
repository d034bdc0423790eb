"""Running a detector on batches of tiles and mapping its boxes to the slide."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from algorithm.device import autocast, to_tensor
from algorithm.tiling.stream import TileBatch


@dataclass
class Candidates:
    """Detections in level-0 pixels (box centres), before slide-level NMS."""

    points: NDArray[np.float64]  # (N, 2) x, y
    scores: NDArray[np.float64]
    labels: NDArray[np.int64]

    @classmethod
    def empty(cls) -> "Candidates":
        return cls(np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=np.int64))

    @classmethod
    def concat(cls, parts: list["Candidates"]) -> "Candidates":
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.points for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.labels for p in parts]),
        )

    def take(self, index: NDArray[np.int64]) -> "Candidates":
        return Candidates(self.points[index], self.scores[index], self.labels[index])

    def __len__(self) -> int:
        return len(self.scores)


@torch.inference_mode()
def predict_batch(
    model: torch.nn.Module, batch: TileBatch, device: torch.device, amp: bool = True, min_score: float = 0.05
) -> Candidates:
    """Box centres of one batch's detections, in level-0 pixels."""
    with autocast(device, amp):
        outputs = model(list(to_tensor(batch.pixels, device)))
    parts = []
    for tile, out in zip(batch.tiles, outputs):
        scores = out["scores"].float().cpu().numpy().astype(np.float64)
        keep = scores >= min_score
        boxes = out["boxes"].float().cpu().numpy()[keep]
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
        points = centres * tile.scale + np.array([tile.x, tile.y], dtype=np.float64)
        parts.append(Candidates(points, scores[keep], out["labels"].cpu().numpy()[keep].astype(np.int64)))
    return Candidates.concat(parts)
