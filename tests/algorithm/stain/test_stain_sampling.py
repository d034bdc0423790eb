"""sample_tissue_pixels and fit_normaliser_to_slide_pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithm.stain import StainFitError, fit_normaliser_to_slide_pixels, get_normaliser, sample_tissue_pixels
from algorithm.stain.sampling import resize_mask


def test_low_resolution_mask_is_resized_to_the_image():
    img = np.full((40, 60, 3), 255, np.uint8)
    img[:, 30:] = (120, 60, 150)
    mask = np.zeros((4, 6), bool)
    mask[:, 3:] = True  # right half at 1/10 resolution
    px = sample_tissue_pixels(img, mask, n=10_000)
    assert px.shape == (40 * 30, 3) and np.all(px == (120, 60, 150))
    assert resize_mask(mask, (40, 60)).sum() == 40 * 30


def test_n_seed_and_sources_of_the_mask(source_img):
    a = sample_tissue_pixels(source_img, None, n=5000, seed=1)
    assert a.shape == (5000, 3) and a.dtype == np.uint8
    assert np.array_equal(a, sample_tissue_pixels(source_img, None, n=5000, seed=1))
    assert not np.array_equal(a, sample_tissue_pixels(source_img, None, n=5000, seed=2))
    # A TissueMask-like object, a per-pixel mask, torch input.
    full = np.ones(source_img.shape[:2], bool)

    class Mask:
        mask = full
        downsample = (1.0, 1.0)

    assert sample_tissue_pixels(source_img, Mask(), n=100).shape == (100, 3)
    px = source_img.reshape(-1, 3)
    assert sample_tissue_pixels(px, full.reshape(-1), n=7).shape == (7, 3)
    assert sample_tissue_pixels(torch.from_numpy(source_img), full, n=7).shape == (7, 3)
    with pytest.raises(ValueError, match="does not fit"):
        sample_tissue_pixels(px, np.ones(5, bool))


def test_fit_from_sampled_pixels(source_img, target_img):
    norm = get_normaliser("macenko", use_lut=False).fit(target_img)
    fit_normaliser_to_slide_pixels(norm, source_img, None, n=50_000, seed=0)
    assert norm.has_source
    white = np.full((50, 50, 3), 255, np.uint8)
    with pytest.raises(StainFitError, match="found 0 tissue pixels"):
        fit_normaliser_to_slide_pixels(norm, white, np.ones((5, 5), bool))
