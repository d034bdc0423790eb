"""Stain augmentation: seeded, batched, StainTools' perturbation model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithm.errors import ConfigError
from algorithm.stain import StainAugmentor
from algorithm.stain.optical_density import luminosity_tissue_mask


def test_seeded_and_varied(source_img, make_tiles):
    tiles = make_tiles(source_img, 64, 4)
    keep = tiles.copy()
    aug = StainAugmentor("macenko").fit_source(source_img)
    a = aug.augment(tiles, rng=7)
    assert a.shape == tiles.shape and a.dtype == np.uint8
    assert np.array_equal(a, aug.augment(tiles, rng=7))
    assert not np.array_equal(a, aug.augment(tiles, rng=8))
    assert np.array_equal(tiles, keep)
    # A Generator advances: two draws from it differ.
    g = np.random.default_rng(0)
    assert not np.array_equal(aug.augment(tiles, g), aug.augment(tiles, g))
    # Each image gets its own perturbation.
    same = np.stack([tiles[0]] * 4)
    out = aug.augment(same, rng=1)
    assert not np.array_equal(out[0], out[1])


def test_batched_equals_per_image_with_the_same_draws(source_img, make_tiles):
    tiles = make_tiles(source_img, 64, 3)
    aug = StainAugmentor("macenko").fit_source(source_img)
    batch = aug.augment(tiles, rng=3)
    alpha, beta = aug.draw(3, 3)
    assert aug.stain_matrix is not None
    for i in range(3):
        px = torch.from_numpy(tiles[i]).reshape(-1, 3)
        one = aug._perturb(px, aug.stain_matrix, alpha[i : i + 1], beta[i : i + 1], 64 * 64)
        assert np.array_equal(one.numpy().reshape(tiles[i].shape), batch[i])


def test_no_perturbation_rerenders_the_image(source_img):
    aug = StainAugmentor("macenko", sigma1=0.0, sigma2=0.0)
    out = aug.augment(source_img, rng=0)
    assert isinstance(out, np.ndarray)
    # Only what two stains and the lasso cannot express is lost.
    tissue = luminosity_tissue_mask(source_img)
    assert np.abs(out.astype(int) - source_img)[tissue].mean() < 10  # measured 7.2 (Macenko)


def test_perturbation_follows_staintools_model(source_img):
    """Same alpha/beta as StainTools' pop() -> same colours (StainTools returns floats)."""
    staintools = pytest.importorskip("staintools")
    st = staintools.StainAugmentor("macenko", sigma1=0.3, sigma2=0.1)
    st.fit(source_img.copy())
    np.random.seed(5)  # StainTools draws from the global state: alpha, beta per stain
    ref = st.pop()
    np.random.seed(5)
    draws = np.array([[np.random.uniform(0.7, 1.3), np.random.uniform(-0.1, 0.1)] for _ in range(2)])
    aug = StainAugmentor("macenko")
    aug.set_stain_matrix(st.stain_matrix)
    assert aug.stain_matrix is not None
    px = torch.from_numpy(source_img).reshape(-1, 3)
    out = aug._perturb(px, aug.stain_matrix, draws[:, :1].T, draws[:, 1:].T, px.shape[0])
    diff = np.abs(out.numpy().reshape(source_img.shape).astype(float) - ref.astype(np.uint8))
    assert diff.mean() < 0.05


def test_background_kept_when_asked(source_img, make_tiles):
    tiles = make_tiles(source_img, 64, 2)
    aug = StainAugmentor("macenko", augment_background=False).fit_source(source_img)
    out = aug.augment(tiles, rng=0)
    glass = ~luminosity_tissue_mask(tiles)
    assert np.array_equal(out[glass], tiles[glass])


def test_torch_and_degenerate_inputs(source_img):
    aug = StainAugmentor("macenko")  # per-image fits
    white = np.full((2, 32, 32, 3), 255, np.uint8)
    assert np.array_equal(aug.augment(white, rng=0), white)  # cannot be fitted: unchanged
    t = torch.from_numpy(source_img[:64, :64].copy())
    out = aug.augment(t, rng=0)
    assert isinstance(out, torch.Tensor) and out.shape == t.shape
    with pytest.raises(ConfigError):
        StainAugmentor("reinhard")
    with pytest.raises(ConfigError):
        StainAugmentor("macenko", sigma1=-1)
