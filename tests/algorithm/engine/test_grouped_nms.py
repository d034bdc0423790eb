"""grouped_nms keeps what one NMS per group keeps, however the groups are cut into chunks."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import boxes as box_ops

from algorithm.engine.grouped_nms import _chunks, chunked_nms, grouped_nms


def _boxes(n: int, groups: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` boxes in tile pixels (0-256, 4-40 px, crowded so that NMS bites), scores, and uneven group ids."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand((n, 2), generator=g) * 24 + 100  # crowded
    size = torch.rand((n, 2), generator=g) * 36 + 4
    boxes = torch.cat([xy, xy + size], dim=1).clamp(0, 256)
    scores = torch.rand(n, generator=g)
    skew = torch.rand(n, generator=g) ** 3  # some groups much larger than others
    return boxes, scores, (skew * groups).long() * 3  # sparse ids, as tile * classes + label


def _per_group(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou: float) -> torch.Tensor:
    """The reference: one torchvision NMS per group, by decreasing score."""
    kept = [torch.nonzero(groups == g).flatten() for g in torch.unique(groups)]
    keep = torch.cat([index[box_ops.nms(boxes[index], scores[index], iou)] for index in kept])
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]


@pytest.mark.parametrize("chunk", [1, 7, 60, 400, 100_000])
def test_chunked_nms_keeps_what_per_group_nms_keeps(chunk: int) -> None:
    boxes, scores, groups = _boxes(1500, 40, seed=chunk)
    expected = _per_group(boxes, scores, groups, 0.5)
    keep = chunked_nms(boxes, scores, groups, 0.5, chunk)
    assert len(expected) < 0.7 * len(boxes)  # NMS bites
    assert keep.dtype == torch.int64
    assert keep.tolist() == expected.tolist()  # the same boxes, by decreasing score


def test_grouped_nms_with_a_chunk_on_the_cpu_and_without() -> None:
    boxes, scores, groups = _boxes(3000, 200, seed=1)  # over batched_nms' CPU size: its loop over groups
    reference = box_ops.batched_nms(boxes, scores, groups, 0.4)
    assert grouped_nms(boxes, scores, groups, 0.4).tolist() == reference.tolist()  # the CPU path: torchvision's
    assert sorted(grouped_nms(boxes, scores, groups, 0.4, chunk=250).tolist()) == sorted(reference.tolist())


def test_chunked_nms_of_nothing() -> None:
    empty = torch.zeros((0, 4))
    keep = chunked_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)
    assert keep.shape == (0,) and keep.dtype == torch.int64


def test_chunks_cut_at_group_boundaries() -> None:
    # groups ending at 3, 5, 12 and 13 boxes: the third (7 boxes) is over the chunk alone and stands alone
    assert _chunks([3, 5, 12, 13], 5) == [(0, 5), (5, 12), (12, 13)]
    assert _chunks([3, 5, 12, 13], 100) == [(0, 13)]
    assert _chunks([4], 1) == [(0, 4)]
