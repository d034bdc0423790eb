from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from training.segmenter.loss import bce_jaccard_loss, soft_jaccard


@pytest.fixture()
def target() -> torch.Tensor:
    target = torch.zeros(2, 1, 16, 16)
    target[0, :, 4:12, 2:10] = 1.0
    return target


def test_confident_right_logits_cost_almost_nothing(target: torch.Tensor) -> None:
    logits = 20.0 * (2 * target - 1)
    assert bce_jaccard_loss(logits, target).item() == pytest.approx(0.0, abs=1e-3)


def test_wrong_logits_cost_more_than_unsure_ones(target: torch.Tensor) -> None:
    right = bce_jaccard_loss(20.0 * (2 * target - 1), target)
    unsure = bce_jaccard_loss(torch.zeros_like(target), target)
    wrong = bce_jaccard_loss(-20.0 * (2 * target - 1), target)
    assert right < unsure < wrong
    assert wrong.item() > 20.0  # BCE of ~20 per pixel plus a Jaccard term near 1
    # unsure: BCE ln 2, Jaccard (32 + 1) / (0.5 * 512 + 64 - 32 + 1)
    assert unsure.item() == pytest.approx(math.log(2) + 1 - 33 / 289, rel=1e-5)


def test_jaccard_weight_zero_is_plain_bce(target: torch.Tensor) -> None:
    logits = torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    expected = F.binary_cross_entropy_with_logits(logits, target)
    assert bce_jaccard_loss(logits, target, jaccard_weight=0.0).item() == pytest.approx(expected.item())


def test_soft_jaccard(target: torch.Tensor) -> None:
    assert soft_jaccard(target, target).item() == 1.0
    empty = torch.zeros_like(target)
    assert soft_jaccard(empty, empty).item() == 1.0  # nothing to find, nothing found
    other = torch.zeros_like(target)
    other[1, :, :4, :4] = 1.0
    assert soft_jaccard(other, target).item() == pytest.approx(1 / (16 + 64 + 1))


def test_loss_has_gradients(target: torch.Tensor) -> None:
    logits = torch.zeros(target.shape, requires_grad=True)
    bce_jaccard_loss(logits, target).backward()
    grad = logits.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert (grad[target == 1] < 0).all() and (grad[target == 0] > 0).all()
