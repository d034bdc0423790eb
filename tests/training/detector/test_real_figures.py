from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.slide import open_slide
from algorithm.stain import get_normaliser
from algorithm.stain.optical_density import rgb_to_od
from algorithm.stain.spec import StainSpec
from algorithm.tissue import tissue_mask
from tests.conftest import blob_image, write_pyramid_tiff
from training.datasets.annotations import MITOSIS, SlideAnnotations
from training.datasets.real_negatives import read_real_negatives
from training.detector.real_figures import (
    REAL_FIGURE_DOMAIN,
    blend_disc,
    disc_alpha,
    match_stain_density,
    read_real_figures,
    rotate_and_scale,
)
from training.detector.sampler import PatchSampler, SamplingConfig
from training.stain_target import transform_factory

PINK = (225, 190, 215)  # the real tissue's colour in these tests
BLUE = (40, 40, 120)  # the crops' colour: a figure is whatever is blue


def _stack(path: Path, pages: int = 4, size: int = 32) -> Path:
    """A crop stack: page k is filled with k, a blue dot in the middle (the 'figure')."""
    crops = np.zeros((pages, size, size, 3), np.uint8)
    for k in range(pages):
        crops[k] = 200 - k
        crops[k, size // 2 - 3 : size // 2 + 3, size // 2 - 3 : size // 2 + 3] = BLUE
    tifffile.imwrite(path, crops, photometric="rgb")
    return path


def test_read_real_figures_lists_the_chosen_pages_as_slides_with_a_mitosis_at_the_centre(tmp_path: Path) -> None:
    figures = read_real_figures(_stack(tmp_path / "crops.tiff"), [2, 4], 0.25, tmp_path / "work")
    assert [f.file_name for f in figures] == ["crops.tiff page 2", "crops.tiff page 4"]
    for figure, page in zip(figures, (2, 4), strict=True):
        assert figure.domain == REAL_FIGURE_DOMAIN and figure.labels.tolist() == [MITOSIS]
        assert figure.points.tolist() == [[16.0, 16.0]]
        with open_slide(figure.slide_path) as slide:
            assert slide.dimensions == (32, 32) and slide.mpp == pytest.approx((0.25, 0.25))
            assert slide.read_region((0, 0), 0, (1, 1))[0, 0].tolist() == [201 - page] * 3
    assert len(read_real_figures(tmp_path / "crops.tiff", None, 0.25, tmp_path / "all")) == 4


def test_read_real_figures_rejects_pages_past_the_stack_and_bad_resolutions(tmp_path: Path) -> None:
    stack = _stack(tmp_path / "crops.tiff")
    with pytest.raises(ConfigError, match=r"crops.tiff: pages \[3, 5\] asked for, the stack has 4"):
        read_real_figures(stack, [3, 5], 0.25, tmp_path / "work")
    with pytest.raises(ConfigError, match="must be positive"):
        read_real_figures(stack, None, 0.0, tmp_path / "work")


def test_disc_alpha_is_one_inside_zero_outside_and_soft_between() -> None:
    alpha = disc_alpha(33, radius=10.0, feather=4.0)
    assert alpha[16, 16] == 1.0 and alpha[16, 16 + 7] == 1.0  # inside
    assert alpha[16, 16 + 13] == 0.0 and alpha[0, 0] == 0.0  # past radius + feather / 2
    assert 0.0 < alpha[16, 16 + 10] < 1.0  # on the edge
    assert np.array_equal(alpha, alpha.T) and np.array_equal(alpha, alpha[::-1])


def test_blend_disc_replaces_the_disc_and_leaves_the_rest_alone_even_at_an_edge() -> None:
    tissue = np.full((40, 40, 3), PINK, np.uint8)
    piece = np.full((16, 16, 3), BLUE, np.uint8)
    out = blend_disc(tissue, piece, (20.0, 20.0), radius=5.0, feather=2.0)
    assert out[20, 20].tolist() == list(BLUE) and out[0, 0].tolist() == list(PINK)
    changed = np.argwhere((out != tissue).any(axis=-1))
    assert np.hypot(*(changed - 20).T).max() <= 6.5  # nothing past the disc's soft edge
    corner = blend_disc(tissue, piece, (1.0, 1.0), radius=5.0, feather=2.0)  # clipped, no error
    assert corner[1, 1].tolist() == list(BLUE) and corner[20, 20].tolist() == list(PINK)
    assert np.array_equal(blend_disc(tissue, piece, (-30.0, -30.0), 5.0, 2.0), tissue)  # wholly outside


def test_match_stain_density_gives_the_piece_the_references_median_density() -> None:
    rng = np.random.default_rng(0)
    piece = rng.integers(150, 230, (24, 24, 3), dtype=np.uint8)
    reference = rng.integers(60, 200, (64, 64, 3), dtype=np.uint8)
    matched = match_stain_density(piece, reference)
    assert matched.dtype == np.uint8 and matched.shape == piece.shape
    medians = [np.median(rgb_to_od(a).reshape(-1, 3), axis=0) for a in (matched, reference)]
    assert np.allclose(medians[0], medians[1], rtol=0.03)


def _synthetic(tmp_path: Path) -> SlideAnnotations:
    path = write_pyramid_tiff(tmp_path / "a.tiff", blob_image(1200, 800), mpp=0.25, tile=128)
    points, labels = np.array([(400.0, 300.0), (600.0, 400.0)]), np.array([1, 2])
    return SlideAnnotations("a.tiff", 1200, 800, points, labels, 50.0, "A", "train", path)


def test_real_figure_patches_box_a_blended_figure_and_disc_negatives_carry_none(tmp_path: Path) -> None:
    Image.fromarray(np.full((300, 400, 3), PINK, np.uint8)).save(tmp_path / "real.png")
    real = read_real_negatives([tmp_path / "real.png"], 0.25, tmp_path / "work")
    figures = read_real_figures(_stack(tmp_path / "crops.tiff"), None, 0.25, tmp_path / "figures")
    config = SamplingConfig(tile_size=64, mpp=0.5, mitosis_fraction=0.5, real_figure_fraction=0.5, jitter=0.3)
    sampler = PatchSampler([_synthetic(tmp_path)], config, real=real, figures=figures)
    rng = np.random.default_rng(5)
    patches = [sampler.sample(rng) for _ in range(200)]
    blended = [p for p in patches if p.origin == "real-figure"]
    discs = [p for p in patches if p.origin == "real-disc"]
    assert 0.15 < len(blended) / len(patches) < 0.35 and 0.15 < len(discs) / len(patches) < 0.35
    for p in blended:
        assert p.labels.tolist() == [MITOSIS] and p.domain == "real"
        x1, y1, x2, y2 = p.boxes[0]
        blue = np.argwhere(p.pixels[..., 2].astype(int) - p.pixels[..., 0] > 40)
        assert len(blue), "no figure blended in"
        cy, cx = blue.mean(axis=0)
        assert x1 - 2 <= cx <= x2 + 2 and y1 - 2 <= cy <= y2 + 2  # the real figure sits in its box
        assert (p.pixels != PINK).any(axis=-1).mean() < 0.5  # a disc in real tissue, not the crop alone
    for p in discs:
        assert p.boxes.shape == (0, 4) and p.labels.shape == (0,)
        assert (p.pixels == PINK).all()  # a disc of the (all pink) real tissue: no figure, no box
    sampler.close()


def test_rotate_and_scale_turns_and_sizes_a_figure_about_the_middle() -> None:
    piece = np.full((41, 41, 3), 200, np.uint8)
    piece[18:23, 10:31] = BLUE  # a bar 21 px wide and 5 tall through the middle
    assert np.array_equal(rotate_and_scale(piece, 0.0, 1.0), piece)  # the identity: the same bytes
    assert np.array_equal(rotate_and_scale(piece, 90.0, 1.0), np.rot90(piece))  # a quarter turn: a standing bar

    def extent(image: np.ndarray) -> tuple[int, int]:
        blue = np.argwhere(image[..., 2].astype(int) - image[..., 0] > 40)
        return int(np.ptp(blue[:, 1])) + 1, int(np.ptp(blue[:, 0])) + 1  # (width, height)

    turned = rotate_and_scale(piece, 37.0, 1.0)
    blue = np.argwhere(turned[..., 2].astype(int) - turned[..., 0] > 40)
    assert np.allclose(blue.mean(axis=0), (20, 20), atol=0.5)  # still centred
    assert 0.5 < extent(turned)[1] / extent(turned)[0] < 1.2  # neither lying nor standing
    assert extent(rotate_and_scale(piece, 0.0, 1.3))[0] in (27, 28)  # 21 px x 1.3
    assert extent(rotate_and_scale(piece, 0.0, 0.7))[0] in (14, 15)  # shrunk: the edges mirror in, plain grey
    assert rotate_and_scale(piece, 37.0, 1.1).shape == piece.shape


def test_warped_real_figures_change_and_stay_in_their_box(tmp_path: Path) -> None:
    Image.fromarray(np.full((300, 400, 3), PINK, np.uint8)).save(tmp_path / "real.png")
    real = read_real_negatives([tmp_path / "real.png"], 0.25, tmp_path / "work")
    figures = read_real_figures(_stack(tmp_path / "crops.tiff"), None, 0.25, tmp_path / "figures")

    def patches(warp: float) -> list:
        config = SamplingConfig(
            tile_size=64, mpp=0.5, mitosis_fraction=1.0, real_figure_fraction=1.0, jitter=0.3, real_figure_warp=warp
        )
        sampler = PatchSampler([_synthetic(tmp_path)], config, real=real, figures=figures)
        rng = np.random.default_rng(11)
        drawn = [sampler.sample(rng) for _ in range(30)]
        sampler.close()
        return drawn

    plain, warped = patches(0.0), patches(0.3)
    assert all(p.origin == "real-figure" for p in plain + warped)
    assert any(not np.array_equal(a.pixels, b.pixels) for a, b in zip(plain, warped, strict=True))
    for p in warped:
        x1, y1, x2, y2 = p.boxes[0]
        blue = np.argwhere(p.pixels[..., 2].astype(int) - p.pixels[..., 0] > 10)  # a 3 px dot, interpolated
        assert len(blue), "no figure blended in"
        cy, cx = blue.mean(axis=0)
        assert x1 - 2 <= cx <= x2 + 2 and y1 - 2 <= cy <= y2 + 2  # turned and sized about its middle: in its box
    with pytest.raises(ConfigError, match="size change must be in"):
        SamplingConfig(real_figure_warp=1.0)


def test_real_figure_share_is_checked_with_the_pasted_share() -> None:
    with pytest.raises(ConfigError, match="real-figure share must be in"):
        SamplingConfig(real_figure_fraction=-0.1)
    with pytest.raises(ConfigError, match="add up to 1.2, more than 1"):
        SamplingConfig(pasted_fraction=0.6, real_figure_fraction=0.6)


def test_a_crop_is_tissue_and_normalised_with_its_own_fit(tmp_path: Path) -> None:
    crop = blob_image(400, 400, seed=3)[100:228, 100:228]  # all tissue, 32 um square
    tifffile.imwrite(tmp_path / "crops.tiff", crop[None], photometric="rgb")
    figures = read_real_figures(tmp_path / "crops.tiff", None, 0.25, tmp_path / "figures")
    spec = StainSpec.of(get_normaliser("macenko").fit(blob_image(300, 200, seed=4)))
    with open_slide(figures[0].slide_path) as slide:
        assert tissue_mask(slide).mask.all()  # 32 um, all tissue: as a job sees it
        tile = slide.read_region((0, 0), 0, (128, 128))
        assert not np.array_equal(transform_factory(spec, 0.25)(slide)(tile[None])[0], tile)  # fitted, not skipped


def test_raw_blending_normalises_the_figure_with_the_tissue_it_lands_in(tmp_path: Path) -> None:
    """--real-figure-raw: the crop goes into the real image's stored pixels and the patch through the image's own
    transform; otherwise the crop through its own transform first. Here the real image's transform inverts colours
    and the crops' keeps them, so a blue figure comes out blue only when blended after its own transform."""
    Image.fromarray(np.full((300, 400, 3), PINK, np.uint8)).save(tmp_path / "real.png")
    real = read_real_negatives([tmp_path / "real.png"], 0.25, tmp_path / "work")
    figures = read_real_figures(_stack(tmp_path / "crops.tiff"), None, 0.25, tmp_path / "figures")

    def factory(reader: object) -> object:
        invert = "real" in str(getattr(reader, "path", ""))
        return (lambda batch: 255 - batch) if invert else (lambda batch: batch)

    def bluest(raw: bool) -> list[int]:
        """Each real-figure patch's largest blue-minus-red: the blue figure's, where it stays blue."""
        config = SamplingConfig(
            tile_size=64, mpp=0.5, mitosis_fraction=1.0, real_figure_fraction=1.0, jitter=0.3, real_figure_raw=raw
        )
        sampler = PatchSampler([_synthetic(tmp_path)], config, factory, real=real, figures=figures)  # type: ignore[arg-type]
        rng = np.random.default_rng(2)
        patches = [p for p in (sampler.sample(rng) for _ in range(20)) if p.origin == "real-figure"]
        sampler.close()
        assert patches and all((p.pixels[0, 0] == 255 - np.array(PINK)).all() for p in patches)  # inverted tissue
        return [int((p.pixels[..., 2].astype(int) - p.pixels[..., 0]).max()) for p in patches]

    assert max(bluest(raw=False)) > 40  # the crop through its own (identity) transform: a blue figure
    assert max(bluest(raw=True)) < 40  # through the tissue's (inverting) transform: none blue
