"""NMS within groups (a batch's tiles and classes) for many boxes at once, without a loop over the groups.

Why: ``torchvision.ops.batched_nms`` shifts each group's boxes apart and runs one
NMS (the "coordinate trick") up to a size (1,000 boxes on a CPU; 5,000 or
25,000 on CUDA, by torchvision's version), and beyond it loops over the groups
in Python, one NMS and a host sync each. A detector that keeps many low-scoring
candidates (the kit keeps those over 0.05, for FROC) gives a batch of 256 tiles
tens of thousands of boxes in 512 groups (tile x class): on an H100 that loop
took five times as long as the network. One NMS over all of them is no better:
its pairwise mask grows with the square of the boxes and is swept on the host.

:func:`grouped_nms` sorts the boxes by group and cuts the sorted run, at group
boundaries, into chunks of at most ``chunk`` boxes; each chunk is one NMS with
its groups shifted apart, in float64 (a float32 box shifted by an integer is
exact there, so the shift costs no precision, unlike torchvision's trick in
float32). The same boxes are kept as with one NMS per group.
"""

from __future__ import annotations

import torch
from torchvision.ops import boxes as box_ops

CHUNK = 4000  # boxes per NMS call: a few MB of pairwise mask, swept in about a millisecond


def grouped_nms(
    boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float, chunk: int | None = None
) -> torch.Tensor:
    """Indices of the boxes NMS keeps within each group, by decreasing score (as ``batched_nms``).

    On the CPU ``torchvision.ops.batched_nms`` itself (its loop is cheap there and its
    results are the CPU path's reference); elsewhere :func:`chunked_nms`.
    ``chunk`` (a test's) forces :func:`chunked_nms` with that chunk size on any device.
    """
    if chunk is None and boxes.device.type == "cpu":
        return box_ops.batched_nms(boxes, scores, groups, iou_threshold)
    return chunked_nms(boxes, scores, groups, iou_threshold, chunk or CHUNK)


def chunked_nms(
    boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float, chunk: int = CHUNK
) -> torch.Tensor:
    """``batched_nms``'s result from NMS calls over chunks of whole groups of at most ``chunk`` boxes (one host sync
    to plan them; a group larger than ``chunk`` is a chunk of its own)."""
    if boxes.shape[0] == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    order = torch.argsort(groups, stable=True)
    sorted_groups = groups[order]
    ends = torch.unique_consecutive(sorted_groups, return_counts=True)[1].cumsum(0).tolist()
    shifted = boxes.double()
    shifted = shifted - shifted.min()  # offsets then only need the coordinates' span
    span = shifted.max() + 1.0
    kept = []
    for a, b in _chunks(ends, chunk):
        index = order[a:b]
        local = (sorted_groups[a:b] - sorted_groups[a]).double()  # small offsets: the chunk's groups only
        keep = box_ops.nms(shifted[index] + (local * span)[:, None], scores[index].double(), iou_threshold)
        kept.append(index[keep])
    keep = torch.cat(kept)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]


def _chunks(ends: list[int], chunk: int) -> list[tuple[int, int]]:
    """(start, end) runs over groups ending at ``ends`` (cumulative), each of at most ``chunk`` boxes where the
    groups allow it."""
    runs: list[tuple[int, int]] = []
    start = last = 0
    for end in ends:
        if end - start > chunk and last > start:  # this group would overflow the run: close it before
            runs.append((start, last))
            start = last
        last = end
    runs.append((start, last))
    return runs
