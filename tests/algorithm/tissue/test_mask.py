from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from algorithm.errors import ConfigError
from algorithm.slide import open_slide
from algorithm.tissue import TissueMask, tissue_mask, tissue_mask_from_rgb
from algorithm.tissue.mask import Method
from tests.conftest import blob_image, write_pyramid_tiff


def _truth(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return ((xx - width * 0.4) / (width * 0.25)) ** 2 + ((yy - height * 0.5) / (height * 0.3)) ** 2 < 1


@pytest.mark.parametrize("method", ["saturation", "optical-density"])
def test_finds_the_blob(method: Method) -> None:
    image = blob_image(600, 400)
    found = tissue_mask_from_rgb(image, (1.0, 1.0), (2.0, 2.0), method=method)
    truth = _truth(600, 400)
    iou = (found.mask & truth).sum() / (found.mask | truth).sum()
    assert iou > 0.97


def test_glass_only_is_empty() -> None:
    rng = np.random.default_rng(1)
    glass = np.clip(240 + rng.normal(0, 3, (200, 300, 3)), 0, 255).astype(np.uint8)
    for method in ("saturation", "optical-density"):
        assert tissue_mask_from_rgb(glass, (1.0, 1.0), method=method).is_empty
    uniform = np.full((50, 50, 3), 255, np.uint8)
    assert tissue_mask_from_rgb(uniform, (1.0, 1.0)).is_empty


def test_specks_removed_and_holes_filled() -> None:
    image = blob_image(600, 400)
    image[10:13, 10:13] = (150, 60, 140)  # a 9-pixel speck far from the blob
    image[195:200, 235:240] = 242  # a small hole in the blob
    mask = tissue_mask_from_rgb(image, (1.0, 1.0), (2.0, 2.0), min_object_um2=200, max_hole_um2=200).mask
    assert not mask[11, 11]
    assert mask[197, 237]


def test_unknown_method() -> None:
    with pytest.raises(ConfigError, match="unknown tissue method"):
        tissue_mask_from_rgb(blob_image(20, 20), (1.0, 1.0), method="magic")  # type: ignore[arg-type]


def test_blood_removal() -> None:
    image = blob_image(600, 400)
    image[180:220, 200:260] = (190, 35, 45)  # a pool of blood inside the tissue
    with_blood = tissue_mask_from_rgb(image, (1.0, 1.0), (2.0, 2.0), max_hole_um2=1.0).mask
    without = tissue_mask_from_rgb(image, (1.0, 1.0), (2.0, 2.0), remove_blood=True, max_hole_um2=1.0).mask
    assert with_blood[200, 230] and not without[200, 230]
    assert without[200, 180]


def test_slide_mask_resolution_and_box_fractions(tmp_path: Path) -> None:
    image = blob_image(1200, 800)
    path = write_pyramid_tiff(tmp_path / "s.tiff", image, mpp=1.0, tile=128)
    with open_slide(path) as slide:
        found = tissue_mask(slide, target_mpp=8.0)
    assert found.mask.shape == (100, 150)
    assert found.downsample == pytest.approx((8.0, 8.0))
    fractions = found.box_fractions(np.array([[480 - 40, 400 - 40, 80, 80], [0, 0, 80, 80], [1150, 750, 100, 100]]))
    assert fractions[0] == pytest.approx(1.0)
    assert fractions[1] == 0.0
    assert fractions[2] == 0.0  # off the slide counts as glass


def test_box_fraction_is_exact_on_a_known_mask() -> None:
    mask = np.zeros((10, 10), bool)
    mask[:, :5] = True
    tm = TissueMask(mask=mask, downsample=(4.0, 4.0))
    assert tm.box_fractions(np.array([[0, 0, 40, 40]]))[0] == pytest.approx(0.5)
    assert tm.box_fractions(np.array([[12, 0, 16, 8]]))[0] == pytest.approx(0.5)
    assert tm.area_px() == pytest.approx(50 * 16)


def test_a_whole_mask_calls_every_pixel_of_the_image_tissue() -> None:
    whole = TissueMask.whole(40, 24)
    assert not whole.is_empty and whole.fraction == 1.0 and whole.area_px() == 40 * 24
    assert whole.box_fractions(np.array([[0.0, 0.0, 40.0, 24.0], [10.0, 5.0, 8.0, 8.0]])).tolist() == [1.0, 1.0]


def test_an_image_smaller_than_a_speck_keeps_its_tissue() -> None:
    # a lone 32 um crop round one cell (1,024 um^2, under the 5,000 um^2 speck size) is tissue, not a speck:
    # a speck there is at most a quarter of the image
    crop = np.full((128, 128, 3), (190, 120, 180), np.uint8)  # 0.25 um/px: stroma...
    crop[44:84, 44:84] = (80, 40, 110)  # ...round a dark nucleus
    assert tissue_mask_from_rgb(crop, (1.0, 1.0), (0.25, 0.25)).mask.all()
    # in a larger image the same speck size still drops what is small beside it
    image = blob_image(600, 400)
    image[10:13, 10:13] = (150, 60, 140)
    assert not tissue_mask_from_rgb(image, (1.0, 1.0), (2.0, 2.0)).mask[11, 11]


def test_a_real_crop_is_tissue_to_the_job(shared_data: Path, tmp_path: Path) -> None:
    # MIDOG 2025's 32 um crops round a mitotic figure: the job's mask (at least 16 px, not 4) and the detector's
    # one tile (6 % of its area, all of it tissue) take it in; before, a job analysed nothing
    from algorithm.detection.slide import DetectionOptions, detection_grid
    from algorithm.models import DetectorConfig
    from training.detector.crops import read_crop_stack, write_crop

    crop = read_crop_stack(shared_data / "mitosis" / "midog25-mitotic-figure-crops.tiff")[9]
    with open_slide(write_crop(crop, 0.25, tmp_path / "crop.tiff")) as slide:
        mask = tissue_mask(slide)
        assert max(mask.mask.shape) >= 16 and mask.box_fractions(np.array([[0.0, 0.0, 128.0, 128.0]]))[0] > 0.9
        grid = detection_grid(slide, DetectorConfig(tile_size=256, mpp=0.5), DetectionOptions(), mask)
    assert len(grid) == 1 and grid.tiles[0].tissue > 0.9


def test_a_float_image_is_refused_not_taken_for_glass() -> None:
    # a float image in [0, 1] gave an empty mask (fraction 0.0; 0.99 as uint8) without a word
    image = blob_image(300, 200)
    assert tissue_mask_from_rgb(image, (1.0, 1.0), (2.0, 2.0)).fraction > 0.2
    for floats in (image / 255.0, image.astype(np.float32)):
        with pytest.raises(ConfigError, match=r"expected uint8 RGB \(levels 0-255\), got dtype float.*\* 255"):
            tissue_mask_from_rgb(floats, (1.0, 1.0), (2.0, 2.0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # also the builtin it is
        tissue_mask_from_rgb(image / 255.0, (1.0, 1.0))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape_of", "words"),
    [
        # grey and RGBA were numpy's "cannot reshape array of size ... into shape (3)"
        (lambda im: im[..., 0], r"shaped \(H, W, 3\) with channels last, got \(20, 30\); grey\?"),
        (lambda im: np.dstack([im, im[..., :1]]), r"got \(20, 30, 4\); RGBA\? drop the alpha"),
        (lambda im: np.moveaxis(im, -1, 0), r"got \(3, 20, 30\); channels first\?"),
        (lambda im: im[None], r"got \(1, 20, 30, 3\)$"),  # a batch: one view at a time
        (lambda im: im.reshape(-1, 3), r"got \(600, 3\)$"),
        (lambda im: im[:0, :0], r"at least one pixel, got an empty image \(0, 0, 3\)"),  # was an IndexError
        (lambda im: im[:, :0], r"empty image \(20, 0, 3\)"),
    ],
)
def test_other_shapes_are_refused_clearly(shape_of, words) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        tissue_mask_from_rgb(shape_of(blob_image(30, 20)), (1.0, 1.0))
    assert isinstance(caught.value, ValueError)  # also the builtin it is


def test_other_types_are_refused_clearly() -> None:
    import torch

    with pytest.raises(ConfigError, match=r"numpy array of uint8 RGB, got a torch tensor"):
        tissue_mask_from_rgb(torch.from_numpy(blob_image(30, 20)), (1.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="numpy array of uint8 RGB, got list"):
        tissue_mask_from_rgb(blob_image(30, 20).tolist(), (1.0, 1.0))


def test_views_of_a_uint8_image_are_accepted_as_they_are() -> None:
    image = blob_image(300, 200)
    expected = tissue_mask_from_rgb(image.copy(), (1.0, 1.0), (2.0, 2.0)).mask
    read_only = image.copy()
    read_only.flags.writeable = False
    assert np.array_equal(tissue_mask_from_rgb(read_only, (1.0, 1.0), (2.0, 2.0)).mask, expected)
    strided = np.zeros((200, 300, 6), np.uint8)
    strided[..., ::2] = image
    assert np.array_equal(tissue_mask_from_rgb(strided[..., ::2], (1.0, 1.0), (2.0, 2.0)).mask, expected)
    assert tissue_mask_from_rgb(image[:1, :1], (1.0, 1.0)).mask.shape == (1, 1)  # one pixel is an image
