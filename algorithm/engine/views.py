"""Test-time views: a tile and its mirror images, and a detector's calls over them fused into one per figure.

A tile is seen as it is and mirrored (``MIRRORS``: left-right; upside down; both), all views of a batch
stacked as one ``(views x N)`` batch (a GPU runs it at once; a CPU, view by view: ``DetectionModel``). For a
detector, each view's boxes are mapped back onto the tile
and grouped per tile and label, greedily by score as NMS groups boxes, but by the distance of their
centres (within ``radius_px``); a group counts one box per view (that view's best) and becomes one
detection: the mean of those boxes, scored by the sum of their scores over the number of views. A call
the model makes in one view keeps 1/views of its score, so unstable calls fall under the threshold while
a figure seen in every view keeps its score (issue 12: the detector's false calls on scanner C).

The grouping runs batched on the device: the greedy order is resolved in rounds over a padded
``(tiles, K, K)`` matrix of neighbours (K: the most detections of one tile), as many rounds as the longest
chain of neighbours (usually two or three), not in a Python loop over detections.
"""

from __future__ import annotations

import torch

from algorithm.engine.retinanet import TileDetections
from algorithm.errors import ConfigError

# the flipped dimensions of each view, per number of views; view 0 is the tile as it is
MIRRORS: dict[int, tuple[tuple[int, ...], ...]] = {1: ((),), 2: ((), (-1,)), 4: ((), (-1,), (-2,), (-2, -1))}
PAIRS_PER_CHUNK = 1 << 24  # neighbour-matrix entries per chunk of tiles (a few hundred MB at most)


def check_views(views: int) -> int:
    """``views`` if it is a number of views the kit runs (1, 2 or 4); ConfigError otherwise."""
    if views not in MIRRORS:
        raise ConfigError(f"views must be 1, 2 or 4 (the tile and its mirror images), got {views!r}")
    return views


def stack_views(tiles: torch.Tensor, views: int) -> torch.Tensor:
    """A batch ``(N, C, H, W)`` and its mirror images, one view after another: view k of tile i at ``k * N + i``."""
    if views == 1:
        return tiles
    return torch.cat([tiles.flip(dims) if dims else tiles for dims in MIRRORS[views]])


def fuse_detections(
    found: TileDetections, tiles: int, views: int, size: tuple[int, int], radius_px: float
) -> TileDetections:
    """The detections of :func:`stack_views`' batch (``tile`` = view x tiles + tile, boxes in the view's
    pixels) as one set per tile, fused as the module docstring says; ``size``: the tiles' ``(h, w)``.

    Output: per tile, the groups by their best member's score (ties: view, then the view's own order)."""
    if views == 1:
        return found
    if len(found) == 0:
        return TileDetections.empty(found.scores.device)
    tile = found.tile % tiles
    boxes = _unflipped(found.boxes.float(), found.tile // tiles, views, size)
    scores = found.scores.float()
    by_score = torch.sort(scores, descending=True, stable=True).indices
    order = by_score[torch.sort(tile[by_score], stable=True).indices]  # per tile, best first
    padded = _Padded(tile[order], boxes[order], scores[order], found.labels[order], found.tile[order] // tiles, tiles)
    step = max(1, PAIRS_PER_CHUNK // (padded.width * padded.width))
    parts = [padded.fuse(start, min(start + step, tiles), views, radius_px) for start in range(0, tiles, step)]
    return TileDetections.concat(parts)


def _unflipped(boxes: torch.Tensor, view: torch.Tensor, views: int, size: tuple[int, int]) -> torch.Tensor:
    """Boxes ``(K, 4)`` of the views ``view`` mapped back onto the tile."""
    height, width = size
    mirrors = MIRRORS[views]
    left_right = torch.tensor([-1 in dims for dims in mirrors], device=boxes.device)[view]
    upside_down = torch.tensor([-2 in dims for dims in mirrors], device=boxes.device)[view]
    x1, y1, x2, y2 = boxes.unbind(1)
    return torch.stack(
        [
            torch.where(left_right, width - x2, x1),
            torch.where(upside_down, height - y2, y1),
            torch.where(left_right, width - x1, x2),
            torch.where(upside_down, height - y1, y2),
        ],
        dim=1,
    )


class _Padded:
    """Detections sorted by tile and score, laid out as ``(tiles, width)`` rows (a tile's detections in its row,
    best first; ``valid`` marks the filled places)."""

    def __init__(
        self,
        tile: torch.Tensor,
        boxes: torch.Tensor,
        scores: torch.Tensor,
        labels: torch.Tensor,
        view: torch.Tensor,
        tiles: int,
    ) -> None:
        counts = torch.bincount(tile, minlength=tiles)
        self.width = int(counts.max())
        place = torch.arange(len(tile), device=tile.device) - (torch.cumsum(counts, 0) - counts)[tile]

        def rows(values: torch.Tensor, fill: float | int | bool = 0) -> torch.Tensor:
            out = values.new_full((tiles, self.width, *values.shape[1:]), fill)
            out[tile, place] = values
            return out

        self.boxes, self.scores, self.labels, self.view = rows(boxes), rows(scores), rows(labels), rows(view)
        self.valid = rows(torch.ones_like(tile, dtype=torch.bool), False)

    def fuse(self, start: int, stop: int, views: int, radius_px: float) -> TileDetections:
        """Tiles ``start:stop`` fused: boxes, scores, labels and tile index of each group, tile by tile."""
        boxes, scores, labels = self.boxes[start:stop], self.scores[start:stop], self.labels[start:stop]
        valid, view = self.valid[start:stop], self.view[start:stop]
        n, k = valid.shape
        centres = (boxes[..., :2] + boxes[..., 2:]) / 2
        # near[t, i, j]: j ranks after i on tile t, same label, centres within the radius
        near = (centres[:, :, None] - centres[:, None, :]).norm(dim=-1) <= radius_px
        near &= valid[:, :, None] & valid[:, None, :] & (labels[:, :, None] == labels[:, None, :])
        near &= torch.ones(k, k, dtype=torch.bool, device=near.device).triu(1)
        seed = _greedy_seeds(near, valid)
        # each detection's group: itself if a seed, else the best-ranked seed near it (the one that took it)
        taken_by = near & seed[:, :, None]
        place = torch.arange(k, device=valid.device).expand(n, k)
        group = torch.where(seed, place, torch.where(taken_by.any(1), taken_by.int().argmax(1), k))
        # per group and view, its best member (the first in rank order); k: none
        best = torch.full((n, (k + 1) * views), k, dtype=torch.long, device=valid.device)
        best.scatter_reduce_(1, group * views + view, place, reduce="amin")
        best = best[:, : k * views].reshape(n, k, views)
        present = best < k
        member = best.clamp(max=k - 1).reshape(n, k * views)
        member_scores = scores.gather(1, member).reshape(n, k, views) * present
        member_boxes = boxes.gather(1, member[..., None].expand(-1, -1, 4)).reshape(n, k, views, 4)
        member_boxes = member_boxes * present[..., None]
        fused_boxes = member_boxes.sum(2) / present.sum(2).clamp(min=1)[..., None]
        fused_scores = member_scores.sum(2) / views
        tile = torch.arange(start, stop, device=valid.device)[:, None].expand(n, k)
        return TileDetections(fused_boxes[seed], fused_scores[seed], labels[seed], tile[seed])


def _greedy_seeds(near: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Which detections greedy grouping in rank order keeps as seeds: those with no seed ranked before them
    among their neighbours (``near[t, i, j]``: i before j). Resolved in rounds: a detection becomes a seed once
    none of its earlier neighbours can still be one, and is taken once one of them is."""
    seed = torch.zeros_like(valid)
    pending = valid.clone()
    while bool(pending.any()):
        blocked = (near & (seed | pending)[:, :, None]).any(1)
        taken = (near & seed[:, :, None]).any(1)
        new = pending & ~blocked
        seed |= new
        pending &= ~(new | taken)
    return seed
