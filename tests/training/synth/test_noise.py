from __future__ import annotations

import numpy as np

from training.synth.noise import (
    derive_seed,
    fbm_grid,
    fbm_points,
    hash_uniform,
    lattice_field_grid,
    value_noise_grid,
    value_noise_points,
)


def test_hash_uniform_is_deterministic_uniform_and_seed_dependent():
    i = np.arange(20000)
    a = hash_uniform(1, i, 3, 0)
    assert np.array_equal(a, hash_uniform(1, i, 3, 0))
    assert a.min() >= 0.0 and a.max() < 1.0
    assert abs(a.mean() - 0.5) < 0.01
    assert np.histogram(a, bins=10, range=(0, 1))[0].min() > 1800
    assert not np.array_equal(a, hash_uniform(2, i, 3, 0))
    assert not np.array_equal(a, hash_uniform(1, i, 4, 0))
    assert not np.array_equal(a, hash_uniform(1, i, 3, 1))


def test_derive_seed_is_stable_and_distinct():
    assert derive_seed(5, "tissue") == derive_seed(5, "tissue")
    assert len({derive_seed(5, "tissue"), derive_seed(6, "tissue"), derive_seed(5, "holes")}) == 3


def test_grid_and_point_noise_agree():
    xs = np.arange(100) * 1.7 + 1000.25
    ys = np.arange(80) * 2.3 - 50.5
    grid = value_noise_grid(3, xs, ys, 13.0)
    X, Y = np.meshgrid(xs, ys)
    assert np.allclose(grid, value_noise_points(3, X, Y, 13.0), atol=1e-5)
    assert grid.min() >= 0.0 and grid.max() <= 1.0


def test_fbm_is_seamless_across_tiles():
    """A tile never depends on what else is rendered: halves of a grid equal the whole."""
    xs = np.arange(300) + 0.5 + 5000
    ys = np.arange(200) + 0.5 + 7000
    whole = fbm_grid(9, xs, ys, 400.0, 4)
    left = fbm_grid(9, xs[:137], ys, 400.0, 4)
    right = fbm_grid(9, xs[137:], ys[50:], 400.0, 4)
    assert np.allclose(whole[:, :137], left, atol=1e-6)
    assert np.allclose(whole[50:, 137:], right, atol=1e-6)


def test_fbm_points_on_the_lattice_match_the_grid():
    xs = np.arange(64) * 3.0 + 0.5 + 123
    ys = np.arange(48) * 3.0 + 0.5 + 77
    grid = fbm_grid(4, xs, ys, 300.0, 3)
    X, Y = np.meshgrid(xs, ys)
    assert np.allclose(grid, fbm_points(4, X, Y, 300.0, 3, lattice=True), atol=1e-5)
    # The exact evaluation differs from the lattice interpolation only slightly.
    assert np.allclose(grid, fbm_points(4, X, Y, 300.0, 3), atol=0.01)


def test_octaves_finer_than_a_pixel_fade_to_their_mean():
    xs = (np.arange(50) + 0.5) * 16.0
    flat = fbm_grid(1, xs, xs, 8.0, 1, downsample=16.0)
    assert np.allclose(flat, 0.5)
    assert fbm_grid(1, xs, xs, 8.0, 1, downsample=1.0).std() > 0.05


def test_lattice_field_grid_interpolates_a_smooth_function():
    xs = np.arange(40) + 0.5
    ys = np.arange(30) + 0.5
    out = lattice_field_grid(lambda x, y: 2.0 * x + y, xs, ys, 4.0)
    assert np.allclose(out, 2.0 * xs[None, :] + ys[:, None], atol=1e-4)
