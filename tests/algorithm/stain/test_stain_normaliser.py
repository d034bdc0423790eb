"""StainNormaliser: StainTools parity with identical matrices, the per-slide path, types, shapes."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from algorithm.errors import ConfigError
from algorithm.stain import StainNormaliser, get_normaliser
from algorithm.stain.errors import StainFitError
from algorithm.stain.stain_normaliser import StainMap

staintools = pytest.importorskip("staintools")


class _FixedExtractor:
    """Makes StainTools use a given source matrix (its transform re-extracts on every call)."""

    def __init__(self, matrix: np.ndarray):
        self.matrix = matrix

    def get_stain_matrix(self, image: np.ndarray) -> np.ndarray:
        return self.matrix.copy()


def _staintools_with(method: str, ours: StainNormaliser, source_matrix: np.ndarray):
    assert ours.stain_matrix_target is not None and ours.max_concentrations_target is not None
    st = staintools.StainNormalizer(method)
    st.stain_matrix_target = ours.stain_matrix_target.copy()
    st.maxC_target = ours.max_concentrations_target.reshape(1, 2).copy()
    st.extractor = _FixedExtractor(source_matrix)
    return st


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("method", ["macenko", "vahadane"])
def test_parity_with_staintools_given_the_same_matrices(method, he_images, target_img):
    """Same target/source matrices -> StainTools' concentrations (spams.lasso), scaling and rendering."""
    ours = get_normaliser(method, max_pixels=30_000) if method == "vahadane" else get_normaliser(method)
    assert isinstance(ours, StainNormaliser)
    ours.fit(target_img)
    for name in ("torchstain-source", "staintools-before"):
        img = he_images[name]
        source_matrix, _ = ours.estimate(img)
        st = _staintools_with(method, ours, source_matrix)
        ref = st.transform(img.copy())
        out = ours.transform(img)  # per-image source fit, like StainTools
        mad = _mad(out, ref)
        worst = np.abs(out.astype(int) - ref).max()
        print(f"{method} {name}: mean abs diff vs StainTools {mad:.4f} levels, max {worst}")
        # Exact lasso; only float32 vs float64 at truncation boundaries (<= 1 level, rarely).
        assert mad < 0.01
        assert np.abs(out.astype(int) - ref).max() <= 1


def test_pinv_solver_gap_is_reported(source_img, target_img):
    """Least squares instead of lasso (StainTools 2.0 / TIAToolbox): measured gap, not parity."""
    lasso = get_normaliser("macenko").fit(target_img)
    pinv = get_normaliser("macenko", solver="pinv").fit(target_img)
    mad = _mad(pinv.transform(source_img), lasso.transform(source_img))
    print(f"macenko pinv vs lasso: mean abs diff {mad:.3f} levels")
    assert 0 < mad < 10


def test_fit_source_lookup_table_equals_direct_computation(source_img, target_img, make_tiles):
    norm = get_normaliser("macenko").fit(target_img).fit_source(source_img)
    tiles = make_tiles(source_img, 96, 3)
    direct = norm.fixed_map(torch.device("cpu"))(torch.from_numpy(tiles).reshape(-1, 3)).reshape(tiles.shape)
    via_lut = norm.transform(tiles)  # CPU default: the table memoised per colour
    assert np.array_equal(via_lut, direct.numpy())
    norm.use_lut = False
    assert np.array_equal(norm.transform(tiles), via_lut)
    norm.use_lut = True  # the full 256^3 table, built up front
    assert np.array_equal(norm.transform(tiles), via_lut)
    # Every colour, not just these tiles: a random sample of the table vs direct computation.
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (262_145, 3), dtype=np.uint8)  # 2^18 + 1: a 1-pixel last step
    norm.use_lut = None
    direct_all = norm.fixed_map(torch.device("cpu"))(torch.from_numpy(colours)).numpy()
    assert np.array_equal(norm.transform(colours), direct_all)
    assert np.array_equal(norm.transform(colours[:1]), norm.transform(colours)[:1])
    norm.use_lut = True
    assert np.array_equal(norm.transform(colours), direct_all)


@pytest.mark.parametrize("method", ["macenko", "vahadane"])
def test_the_cpus_numpy_map_and_the_gpus_torch_map_agree_within_a_level(source_img, target_img, method):
    """The CPU maps in numpy (cheap small calls from the tile engine's readers), a GPU in torch."""
    norm = get_normaliser(method).fit(target_img).fit_source(source_img)
    cpu = norm.fixed_map("cpu")
    assert isinstance(cpu, StainMap) and cpu.on_cpu
    gpu_code = copy.copy(cpu)
    gpu_code.on_cpu = False  # the torch code a GPU runs, here on the CPU
    colours = torch.from_numpy(np.random.default_rng(6).integers(0, 256, (1 << 18, 3), dtype=np.uint8))
    difference = np.abs(cpu(colours).numpy().astype(np.int16) - gpu_code(colours).numpy())
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3
    block = cpu.apply_block(1 << 16, 1 << 17, torch.device("cpu")).numpy()  # the full table's broadcast path
    ramps = np.arange(1 << 16, 1 << 17)
    rgb = np.stack((ramps & 255, (ramps >> 8) & 255, ramps >> 16), axis=1).astype(np.uint8)
    np.testing.assert_array_equal(block, cpu(torch.from_numpy(rgb)).numpy())


def test_fixed_source_on_the_same_image_equals_per_image(source_img, target_img):
    # With the same (all-pixel) statistics in both modes the two paths are one map.
    norm = get_normaliser("macenko", use_lut=False, statistics="all").fit(target_img)
    per_image = norm.transform(source_img)
    norm.fit_source(source_img)
    assert np.array_equal(norm.transform(source_img), per_image)


def test_types_shapes_and_no_mutation(source_img, target_img, make_tiles):
    norm = get_normaliser("macenko", use_lut=False).fit(target_img).fit_source(source_img)
    tiles = make_tiles(source_img, 64, 3)
    keep = tiles.copy()
    out = norm.transform(tiles)
    assert isinstance(out, np.ndarray) and out.shape == tiles.shape and out.dtype == np.uint8
    assert np.array_equal(tiles, keep)
    # One image, loose pixels, torch batch: all the same numbers.
    assert np.array_equal(norm.transform(tiles[1]), out[1])
    assert np.array_equal(norm.transform(tiles[1].reshape(-1, 3)), out[1].reshape(-1, 3))
    t = torch.from_numpy(tiles.copy())
    out_t = norm.transform(t)
    assert isinstance(out_t, torch.Tensor) and out_t.shape == t.shape and out_t.dtype == torch.uint8
    assert np.array_equal(out_t.numpy(), out)
    assert np.array_equal(t.numpy(), keep)
    # Channels-first callers permute (a non-contiguous view is fine).
    nchw = t.permute(0, 3, 1, 2).contiguous()
    assert np.array_equal(norm.transform(nchw.permute(0, 2, 3, 1)).numpy(), out)
    # Read-only numpy input: no warning, and the warning filters left as found (the tile engine
    # normalises from several threads, where changing filters is not thread-safe).
    ro = tiles.copy()
    ro.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning about the input fails here
        filters = list(warnings.filters)
        assert np.array_equal(norm.transform(ro), out)
        assert np.array_equal(norm.transform(tiles), out)
        assert warnings.filters == filters
    # Empty batch.
    assert norm.transform(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 8, 8, 3)


def test_per_image_batch_equals_one_by_one(source_img, target_img, make_tiles):
    norm = get_normaliser("macenko").fit(target_img)
    tiles = make_tiles(source_img, 96, 3, seed=1)
    out = norm.transform(tiles)
    for i in range(len(tiles)):
        assert np.array_equal(out[i], norm.transform(tiles[i]))


def test_rejects_bad_input(target_img):
    norm = get_normaliser("macenko").fit(target_img)
    with pytest.raises(TypeError, match="uint8"):
        norm.transform(target_img.astype(np.float32))
    with pytest.raises(ValueError, match="channels last"):
        norm.transform(np.zeros((2, 3, 8, 8), np.uint8))
    with pytest.raises(RuntimeError, match="fit"):
        get_normaliser("vahadane").transform(target_img)


def test_set_parameters_and_params_round_trip(source_img, target_img):
    a = get_normaliser("macenko", use_lut=False).fit(target_img).fit_source(source_img)
    p = a.params()
    b = get_normaliser("macenko", use_lut=False)
    assert isinstance(b, StainNormaliser)
    target_matrix, target_concentrations = p["target"]
    b.set_target(target_matrix, target_concentrations, p["slide_target"][1])
    m, c = (np.asarray(v) for v in p["source"])
    b.set_source(m[[1, 0]], c[[1, 0]])  # E first is reordered, with its percentile
    assert np.array_equal(a.transform(source_img), b.transform(source_img))
    with pytest.raises(StainFitError):
        b.set_source(m, np.array([0.0, 1.0]))


def test_statistics_per_mode(source_img, target_img):
    norm = get_normaliser("macenko").fit(target_img)
    _, c_all = norm.estimate(source_img)
    _, c_tissue = norm.estimate(source_img, tissue_only=True)
    assert np.all(c_tissue > c_all)  # glass pulls the all-pixel percentiles down
    # "auto": StainTools' all-pixel target per image, tissue-pixel target per slide.
    assert norm.target is not None and norm.slide_target is not None
    assert np.all(norm.slide_target[1] > norm.target[1])
    assert np.array_equal(norm.slide_target[0], norm.target[0])
    for forced in ("all", "tissue"):
        n = get_normaliser("macenko", statistics=forced).fit(target_img)
        assert n.target is not None and n.slide_target is not None
        assert np.array_equal(n.target[1], n.slide_target[1])
    with pytest.raises(ConfigError):
        get_normaliser("macenko", statistics="glass")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the container's GPU)")
def test_cuda_matches_cpu(source_img, target_img, make_tiles):
    norm = get_normaliser("vahadane").fit(target_img).fit_source(source_img)
    tiles = make_tiles(source_img, 128, 8)
    cpu = norm.transform(torch.from_numpy(tiles))
    gpu = norm.transform(torch.from_numpy(tiles).cuda())
    assert gpu.device.type == "cuda"
    # Different exp/rounding kernels: at most one level, rarely.
    diff = (gpu.cpu().int() - cpu.int()).abs()
    assert diff.max() <= 1 and diff.float().mean() < 0.01
