"""Mapping a batch's detections from tile pixels to the slide."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from algorithm.engine.models import HostDetections
from algorithm.tiling.grid import Tile


@dataclass
class Candidates:
    """Detections in level-0 pixels (box centres), before slide-level NMS."""

    points: NDArray[np.float64]  # (N, 2) x, y
    scores: NDArray[np.float64]
    labels: NDArray[np.int64]

    @classmethod
    def empty(cls) -> Candidates:
        """No detections (what a slide without tissue tiles gives)."""
        return cls(np.zeros((0, 2)), np.zeros(0), np.zeros(0, dtype=np.int64))

    @classmethod
    def concat(cls, parts: list[Candidates]) -> Candidates:
        """All batches' candidates in one, in the parts' order."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.points for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.labels for p in parts]),
        )

    def take(self, index: NDArray[np.int64]) -> Candidates:
        """The candidates at ``index`` (a selection or an order)."""
        return Candidates(self.points[index], self.scores[index], self.labels[index])

    def __len__(self) -> int:
        return len(self.scores)


def slide_candidates(tiles: tuple[Tile, ...], found: HostDetections) -> Candidates:
    """Box centres of a batch's detections in level-0 pixels, in tile order."""
    order = np.argsort(found.tile, kind="stable")
    index = found.tile[order]
    scale = np.array([t.scale for t in tiles], dtype=np.float64)[index]
    origin = np.array([(t.x, t.y) for t in tiles], dtype=np.float64).reshape(-1, 2)[index]
    points = found.centres[order] * scale[:, None] + origin
    return Candidates(points, found.scores[order], found.labels[order])
