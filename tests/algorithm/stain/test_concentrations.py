"""The closed-form non-negative lasso is spams.lasso's solution; pinv is clamped least squares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from algorithm.errors import ConfigError
from algorithm.stain.concentrations import ConcentrationSolver, get_concentrations
from algorithm.stain.optical_density import rgb_to_od

spams = pytest.importorskip("spams")

HE = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11]])
HE = HE / np.linalg.norm(HE, axis=1, keepdims=True)


def _spams_lasso(od: np.ndarray, m: np.ndarray, lam: float) -> np.ndarray:
    x = np.asfortranarray(od.T)
    d = np.asfortranarray(m.T)
    return spams.lasso(X=x, D=d, mode=2, lambda1=lam, pos=True).toarray().T


def _objective(od, m, c, lam):
    return 0.5 * ((od - c @ m) ** 2).sum(1) + lam * c.sum(1)


@pytest.mark.parametrize("lam", [0.01, 0.1])
def test_lasso_equals_spams_on_real_pixels(source_img, lam):
    od = rgb_to_od(source_img.reshape(-1, 3)[::7])
    ours = get_concentrations(od, HE, "lasso", lam)
    ref = _spams_lasso(od, HE, lam)
    assert np.abs(ours - ref).max() < 1e-6
    assert np.all(ours >= 0)


def test_lasso_is_optimal_for_random_matrices():
    rng = np.random.default_rng(1)
    od = rng.uniform(0, 3, (5000, 3))
    for _ in range(5):
        m = rng.uniform(0, 1, (2, 3))
        m /= np.linalg.norm(m, axis=1, keepdims=True)
        ours = get_concentrations(od, m, "lasso", 0.05)
        ref = _spams_lasso(od, m, 0.05)
        # Same optimum (objective never worse than SPAMS' LARS by more than rounding).
        assert np.max(_objective(od, m, ours, 0.05) - _objective(od, m, ref, 0.05)) < 1e-9
        assert np.abs(ours - ref).max() < 1e-5


def test_float32_torch_path_matches_float64():
    rng = np.random.default_rng(2)
    od = rng.uniform(0, 2, (10000, 3))
    ref = get_concentrations(od, HE)
    ours = get_concentrations(torch.as_tensor(od, dtype=torch.float32), HE)
    assert isinstance(ours, torch.Tensor) and ours.dtype == torch.float32
    assert np.abs(ours.numpy() - ref).max() < 1e-4


def test_pinv_is_clamped_least_squares():
    rng = np.random.default_rng(3)
    od = rng.uniform(0, 2, (1000, 3))
    ours = get_concentrations(od, HE, "pinv")
    ls = np.linalg.lstsq(HE.T, od.T, rcond=None)[0].T
    np.testing.assert_allclose(ours, np.maximum(ls, 0), atol=1e-10)


@pytest.mark.parametrize("solver", ["lasso", "pinv"])
def test_collinear_or_zero_stains_give_finite_concentrations(solver):
    od = np.random.default_rng(4).uniform(0, 2, (100, 3))
    for m in (np.array([HE[0], HE[0]]), np.array([HE[0], [0.0, 0.0, 0.0]]), np.zeros((2, 3))):
        c = get_concentrations(od, m, solver)
        assert np.all(np.isfinite(c)) and np.all(c >= 0)


def test_bad_solver_and_matrix():
    with pytest.raises(ConfigError, match="unknown concentration solver"):
        ConcentrationSolver(HE, "nnls")
    with pytest.raises(ValueError, match="2 x 3"):
        ConcentrationSolver(np.eye(3))


@pytest.mark.parametrize("solver", ["lasso", "pinv"])
def test_the_numpy_solver_is_the_torch_solver_within_float32_rounding(solver):
    """The CPU stain map solves in numpy; torch fuses one multiply-add where numpy rounds twice."""
    b = np.random.default_rng(5).uniform(-0.5, 3, (2, 20000)).astype(np.float32)
    before = b.copy()
    for m in (HE, np.array([HE[0], HE[0]]), np.array([HE[0], [0.0, 0.0, 0.0]])):
        solve = ConcentrationSolver(m, solver)
        ours = solve.solve_pair_numpy(b[0], b[1])
        theirs = solve.solve_pair(torch.from_numpy(b[0].copy()), torch.from_numpy(b[1].copy()))
        for a, t in zip(ours, theirs, strict=True):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, t.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(b, before)  # its inputs are left alone
