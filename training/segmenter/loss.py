"""BCE + Jaccard, HeLP 2019's loss: per-pixel calibration plus overlap at the region level."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_jaccard(probability: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft IoU over the whole batch (patches without tumour then do not divide by zero)."""
    intersection = (probability * target).sum()
    union = probability.sum() + target.sum() - intersection
    return (intersection + eps) / (union + eps)


def bce_jaccard_loss(logits: torch.Tensor, target: torch.Tensor, jaccard_weight: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy plus ``jaccard_weight`` x (1 - soft Jaccard): HeLP 2019's loss.

    Cross-entropy gives every pixel a gradient; the Jaccard term weighs the small tumour regions up.
    """
    bce = F.binary_cross_entropy_with_logits(logits, target)
    return bce + jaccard_weight * (1.0 - soft_jaccard(torch.sigmoid(logits), target))
