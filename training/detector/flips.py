"""Test-time flips for a detector: each tile seen four times (as is, mirrored left-right, upside down, both).

The detections of the four views are mapped back to the tile, grouped (same label, centres within
``radius`` pixels; one detection per view, its best), and each group becomes one detection: the mean
box, scored by the sum of its views' scores over four. A call the model makes in one view only keeps a
quarter of its score, so unstable calls fall below the threshold while a figure seen in all four keeps
its score. An experiment of issue 12 (``detector-score --flips``), not yet the container's: it costs
four times the model's time, and a threshold chosen with flips would be the detector's own.
"""

from __future__ import annotations

import torch

# (left-right, upside-down) per view; the first view is the tile as it is
VIEWS = ((False, False), (True, False), (False, True), (True, True))
RADIUS_PX = 10.0  # at the detector's 0.5 um/px: 5 um, inside a figure


class FlipFusion(torch.nn.Module):
    """``detector`` (tiles in; a list of ``{"boxes", "scores", "labels"}`` per tile out) run on the four flips of
    each batch, the views' detections fused per tile as the module docstring says."""

    def __init__(self, detector: torch.nn.Module, radius_px: float = RADIUS_PX) -> None:
        super().__init__()
        self.detector = detector
        self.radius_px = radius_px

    def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Per tile, the fused detections of its four views (boxes in the tile's own pixels)."""
        height, width = tiles.shape[-2:]
        views = []
        for left_right, upside_down in VIEWS:
            dims = [d for d, flip in ((-1, left_right), (-2, upside_down)) if flip]
            found = self.detector(tiles.flip(dims) if dims else tiles)
            views.append([_unflip(d, left_right, upside_down, width, height) for d in found])
        return [self._fuse([view[i] for view in views]) for i in range(len(tiles))]

    def _fuse(self, views: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """One tile's detections of every view grouped and scored (highest-scoring first seeds each group)."""
        boxes = torch.cat([v["boxes"] for v in views]).float()
        scores = torch.cat([v["scores"] for v in views]).float()
        labels = torch.cat([v["labels"] for v in views])
        view = torch.cat([torch.full((len(v["scores"]),), k) for k, v in enumerate(views)])
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        free = torch.ones(len(scores), dtype=torch.bool)
        out_boxes, out_scores, out_labels = [], [], []
        for seed in scores.argsort(descending=True, stable=True).tolist():
            if not free[seed]:
                continue
            group = free & (labels == labels[seed]) & ((centres - centres[seed]).norm(dim=1) <= self.radius_px)
            best = []  # each view's highest-scoring member of the group
            for k in range(len(views)):
                members = torch.nonzero(group & (view == k)).flatten()
                if len(members):
                    best.append(members[scores[members].argmax()])
            free &= ~group
            chosen = torch.stack(best)
            out_boxes.append(boxes[chosen].mean(dim=0))
            out_scores.append(scores[chosen].sum() / len(views))
            out_labels.append(labels[seed])
        if not out_boxes:
            return {
                "boxes": torch.zeros((0, 4)),
                "scores": torch.zeros(0),
                "labels": torch.zeros(0, dtype=labels.dtype),
            }
        return {"boxes": torch.stack(out_boxes), "scores": torch.stack(out_scores), "labels": torch.stack(out_labels)}


def _unflip(
    found: dict[str, torch.Tensor], left_right: bool, upside_down: bool, width: int, height: int
) -> dict[str, torch.Tensor]:
    """A view's detections with their boxes mapped back onto the unflipped tile."""
    boxes = found["boxes"].clone()
    if left_right:
        boxes[:, [0, 2]] = width - found["boxes"][:, [2, 0]]
    if upside_down:
        boxes[:, [1, 3]] = height - boxes[:, [3, 1]]  # indexing by a list copies: no overlap
    return {"boxes": boxes, "scores": found["scores"], "labels": found["labels"]}
