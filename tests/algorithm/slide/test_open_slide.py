from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from algorithm.errors import ConfigError, KitError, SlideError
from algorithm.slide import open_slide
from tests.conftest import REPO, blob_image, shrink, write_pyramid_tiff


def test_reads_real_aperio_svs(shared_data: Path) -> None:
    with open_slide(shared_data / "openslide" / "small.svs") as slide:
        assert slide.backend == "openslide"
        assert slide.dimensions == (16, 16)
        assert slide.mpp == pytest.approx((0.499, 0.499))
        region = slide.read_region((0, 0), 0, (16, 16))
        assert region.shape == (16, 16, 3) and region.dtype == np.uint8


def test_reads_real_generic_tiff_against_its_png(shared_data: Path) -> None:
    from PIL import Image

    expected = np.asarray(Image.open(shared_data / "openslide" / "boxes.png").convert("RGB"))
    with open_slide(shared_data / "openslide" / "boxes.tiff") as slide:
        assert slide.dimensions == (300, 250)
        assert slide.level_count == 4
        assert slide.level_downsamples[1] == pytest.approx(2.0)
        region = slide.read_region((0, 0), 0, (300, 250))
    assert np.abs(region.astype(int) - expected.astype(int)).mean() < 1.0


def test_default_72_dpi_is_not_a_resolution(shared_data: Path) -> None:
    with open_slide(shared_data / "openslide" / "boxes.tiff") as slide:
        assert not slide.has_mpp
        with pytest.raises(SlideError, match=r"boxes\.tiff.*not a microscope"):
            _ = slide.mpp


def test_mpp_override(shared_data: Path) -> None:
    with open_slide(shared_data / "openslide" / "boxes.tiff", mpp=0.25) as slide:
        assert slide.mpp == (0.25, 0.25)
        assert slide.pixels_to_mm([[400, 800]]) == pytest.approx(np.array([[0.1, 0.2]]))
    for bad in (-1.0, 0.0, float("nan"), 250.0, (0.25, 0.0)):
        with pytest.raises(
            ConfigError, match=r"boxes\.tiff: mpp must be between 0\.01 and 100 microns per pixel, got "
        ):
            open_slide(shared_data / "openslide" / "boxes.tiff", mpp=bad)


def test_a_default_mpp_is_for_files_that_do_not_say(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The commands' --mpp: a file's own resolution wins (with a warning when they disagree); a file without
    one takes it."""
    image = blob_image(300, 200)
    tagged = write_pyramid_tiff(tmp_path / "tagged.tiff", image, mpp=0.5, levels=1)
    untagged = write_pyramid_tiff(tmp_path / "untagged.tiff", image, mpp=None, levels=1)
    with caplog.at_level("WARNING"):
        with open_slide(tagged, default_mpp=0.5) as slide:
            assert slide.mpp == (0.5, 0.5)
        assert not caplog.records  # they agree: nothing to say
        with open_slide(tagged, default_mpp=0.25) as slide:
            assert slide.mpp == (0.5, 0.5)
    assert [r.getMessage() for r in caplog.records] == [
        f"{tagged}: the file says 0.5 um/px; --mpp 0.25 is for files that do not say, so the file's is used"
    ]
    with open_slide(untagged, default_mpp=0.25) as slide:
        assert slide.mpp == (0.25, 0.25)
    with open_slide(untagged) as slide, pytest.raises(SlideError, match="no resolution information"):
        _ = slide.mpp
    with pytest.raises(ConfigError, match="default_mpp must be between 0.01 and 100 microns per pixel, got 0.0"):
        open_slide(untagged, default_mpp=0.0)


@pytest.mark.parametrize(
    ("name", "problem"),
    [("unreadable.svs", "corrupt or truncated"), ("unopenable.tiff", "52479")],
)
def test_corrupt_fixtures_raise_one_clear_error(shared_data: Path, name: str, problem: str) -> None:
    with pytest.raises(SlideError) as info:
        open_slide(shared_data / "openslide" / name)
    message = str(info.value)
    assert name in message and problem in message
    assert "\n" not in message


def test_missing_empty_and_folder(tmp_path: Path) -> None:
    with pytest.raises(SlideError, match="no such file"):
        open_slide(tmp_path / "absent.tiff")
    (tmp_path / "empty.svs").write_bytes(b"")
    with pytest.raises(SlideError, match=r"empty\.svs: the file is empty"):
        open_slide(tmp_path / "empty.svs")
    with pytest.raises(SlideError, match="is a folder"):
        open_slide(tmp_path)


def test_truncated_pyramid_tiff(tmp_path: Path) -> None:
    path = write_pyramid_tiff(tmp_path / "whole.tiff", blob_image(), compression="jpeg")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.tiff"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(KitError, match=r"truncated\.tiff"), open_slide(truncated) as slide:
        slide.read_region((0, 0), 0, slide.dimensions)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.tif"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(SlideError, match=r"noise\.tif"):
        open_slide(path)


def test_pyramid_tiff_levels_and_mpp(tmp_path: Path) -> None:
    image = blob_image(640, 480)
    path = write_pyramid_tiff(tmp_path / "slide.tiff", image, mpp=0.25)
    with open_slide(path) as slide:
        assert slide.dimensions == (640, 480)
        assert slide.level_count == 3
        assert slide.mpp == pytest.approx((0.25, 0.25))
        np.testing.assert_array_equal(slide.read_region((100, 50), 0, (64, 32)), image[50:82, 100:164])
        np.testing.assert_array_equal(slide.read_region((200, 100), 1, (20, 10)), shrink(image, 2)[50:60, 100:120])


def test_plain_stripped_tiff_goes_through_tifffile(tmp_path: Path) -> None:
    image = blob_image(300, 200)
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, image, photometric="rgb", rowsperstrip=7, resolution=(4e4, 4e4), resolutionunit="CENTIMETER")
    with open_slide(path) as slide:
        assert slide.dimensions == (300, 200)
        assert slide.mpp == pytest.approx((0.25, 0.25))
        np.testing.assert_array_equal(slide.read_region((13, 11), 0, (250, 120)), image[11:131, 13:263])


def test_tifffile_reader_grey_and_tiled(tmp_path: Path) -> None:
    from algorithm.slide.tiff_reader import TiffReader

    grey = blob_image(130, 90)[..., 0]
    path = tmp_path / "grey.tif"
    tifffile.imwrite(path, grey, tile=(32, 32))
    slide = TiffReader(path)
    region = slide.read_region((-10, -5), 0, (150, 100))
    np.testing.assert_array_equal(region[5:95, 10:140, 1], grey)
    assert (region[:5] == 255).all() and (region[:, 140:] == 255).all()
    assert not slide.has_mpp


def test_mha_spacing_is_millimetres(tmp_path: Path) -> None:
    image = blob_image(200, 120)
    itk = sitk.GetImageFromArray(image, isVector=True)
    itk.SetSpacing((0.00025, 0.00025))
    path = tmp_path / "slide.mha"
    sitk.WriteImage(itk, str(path))
    with open_slide(path) as slide:
        assert slide.backend == "simpleitk"
        assert slide.mpp == pytest.approx((0.25, 0.25))
        np.testing.assert_array_equal(slide.read_region((20, 10), 0, (50, 40)), image[10:50, 20:70])


def test_mha_without_spacing_has_no_mpp(tmp_path: Path) -> None:
    path = tmp_path / "nospacing.mha"
    sitk.WriteImage(sitk.GetImageFromArray(blob_image(50, 40), isVector=True), str(path))
    with open_slide(path) as slide, pytest.raises(SlideError, match=r"nospacing\.mha: the file has no resolution"):
        _ = slide.mpp


def test_simpleitk_is_imported_only_when_an_itk_file_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "slide.mha"
    sitk.WriteImage(sitk.GetImageFromArray(blob_image(50, 40), isVector=True), str(path))
    code = (
        "import sys\nimport algorithm.slide\nassert 'SimpleITK' not in sys.modules\n"
        f"algorithm.slide.open_slide({str(path)!r}).close()\nassert 'SimpleITK' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# Run first in the subprocess: SimpleITK cannot be imported, as in an environment without it.
_BLOCK_SIMPLEITK = """
import importlib.abc, sys
class NoSimpleITK(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "SimpleITK":
            raise ImportError("SimpleITK is blocked by the test")
        return None
sys.meta_path.insert(0, NoSimpleITK())
"""


def test_tiff_slides_open_and_read_without_simpleitk(tmp_path: Path) -> None:
    image = blob_image(300, 200)
    pyramid = write_pyramid_tiff(tmp_path / "pyramid.tiff", image, tile=64, levels=2)  # OpenSlide
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, image)  # stripped: OpenSlide refuses it, tifffile reads it
    mha = tmp_path / "slide.mha"
    sitk.WriteImage(sitk.GetImageFromArray(image, isVector=True), str(mha))
    code = _BLOCK_SIMPLEITK + (
        "import numpy as np\nfrom algorithm.errors import SlideError\nfrom algorithm.slide import open_slide\n"
        "import algorithm.job  # the job's modules, all tasks' included, import without it too\n"
        "for name in ('pyramid.tiff', 'plain.tif'):\n"
        f"    with open_slide({str(tmp_path)!r} + '/' + name) as slide:\n"
        "        np.save(f'{slide.path}.npy', slide.read_region((0, 0), 0, slide.dimensions))\n"
        "try:\n"
        f"    open_slide({str(mha)!r})\n"
        "except SlideError as exc:\n"
        "    print(exc)\n"
        "assert 'SimpleITK' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{mha}: reading ITK formats needs SimpleITK, which is not installed"
    for path in (pyramid, plain):
        np.testing.assert_array_equal(np.load(f"{path}.npy"), image)


def test_mha_zero_size_and_3d(tmp_path: Path) -> None:
    volume = sitk.GetImageFromArray(np.zeros((3, 10, 10), dtype=np.uint8))
    sitk.WriteImage(volume, str(tmp_path / "volume.mha"))
    with pytest.raises(SlideError, match=r"volume\.mha: a 3-D image"):
        open_slide(tmp_path / "volume.mha")
    (tmp_path / "broken.mha").write_text(
        "ObjectType = Image\nNDims = 2\nDimSize = 0 0\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n"
    )
    with pytest.raises(SlideError, match=r"broken\.mha"):
        open_slide(tmp_path / "broken.mha")


@pytest.mark.filterwarnings("ignore:.*zero-size array")
def test_zero_size_tiff(tmp_path: Path) -> None:
    path = tmp_path / "zero.tif"
    tifffile.imwrite(path, np.zeros((0, 0, 3), dtype=np.uint8))
    with pytest.raises(SlideError, match=r"zero\.tif"):
        open_slide(path)


def test_region_past_edges_is_white(tmp_path: Path) -> None:
    image = blob_image(128, 128)
    path = write_pyramid_tiff(tmp_path / "s.tiff", image, levels=1)
    with open_slide(path) as slide:
        region = slide.read_region((100, 100), 0, (64, 64))
    np.testing.assert_array_equal(region[:28, :28], image[100:, 100:])
    assert (region[28:] == 255).all() and (region[:, 28:] == 255).all()


def test_thumbnail_in_strips_matches_whole_resize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    import algorithm.slide.thumbnail as thumbnail_module

    image = blob_image(500, 300)
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, image, photometric="rgb")
    monkeypatch.setattr(thumbnail_module, "STRIP_PIXELS", 500 * 10)  # force many strips
    with open_slide(path) as slide:
        thumb = slide.get_thumbnail(100)
    expected = np.asarray(Image.fromarray(image).resize((100, 60), Image.Resampling.BOX))
    assert thumb.shape == (60, 100, 3)
    assert np.abs(thumb.astype(int) - expected.astype(int)).max() <= 1


def test_tifffile_reader_reads_pyramid_levels(tmp_path: Path) -> None:
    from algorithm.slide.tiff_reader import TiffReader

    image = blob_image(300, 200)
    path = write_pyramid_tiff(tmp_path / "p.tiff", image, mpp=0.5, tile=32, compression="jpeg")
    with TiffReader(path) as slide, open_slide(path) as reference:
        assert slide.level_dimensions == reference.level_dimensions
        assert slide.mpp == pytest.approx(reference.mpp)
        for level in range(slide.level_count):
            ours = slide.read_region((40, 20), level, (60, 50)).astype(int)
            theirs = reference.read_region((40, 20), level, (60, 50)).astype(int)
            assert np.abs(ours - theirs).mean() < 1.0


# --- real Aperio slides (JPEG and JPEG 2000 tiles): the reader agrees with tifffile's reading of the file ---


@pytest.mark.parametrize(("name", "mpp"), [("cmu-1-small-region.svs", 0.499), ("tcga-cr-7395-01a-01-ts1.svs", None)])
def test_real_svs_levels_resolution_and_pixels(shared_data: Path, name: str, mpp: float | None) -> None:
    path = shared_data / "wsi" / name
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        sizes = tuple((int(level.shape[1]), int(level.shape[0])) for level in series.levels)
        stated = re.search(r"\|MPP = ([0-9.]+)", tif.pages.first.description)  # Aperio's description
        levels = [level.asarray() for level in series.levels]
    assert (float(stated.group(1)) if stated else None) == mpp
    with open_slide(path) as slide:
        assert slide.backend == "openslide"
        assert slide.level_dimensions == sizes
        if mpp is None:
            assert not slide.has_mpp
        else:
            assert slide.mpp == pytest.approx((mpp, mpp))
        for level, pixels in enumerate(levels):
            np.testing.assert_array_equal(slide.read_region((0, 0), level, (400, 300)), pixels[:300, :400])
        np.testing.assert_array_equal(slide.read_region((1234, 567), 0, (333, 222)), levels[0][567:789, 1234:1567])


# --- a multi-page TIFF stack is not one slide ----------------------------------------------------------


def test_a_real_stack_of_crops_is_refused(shared_data: Path) -> None:
    """MIDOG 2025's 16 crops in one TIFF: opened, the readers would show the first crop as the whole file."""
    path = shared_data / "mitosis" / "midog25-mitotic-figure-crops.tiff"
    with pytest.raises(SlideError) as info:
        open_slide(path)
    assert str(info.value).startswith(f"{path}: a stack of 16 images of 128 x 128 pixels, not one slide: ")
    assert "\n" not in str(info.value)


def test_stacks_are_refused_by_either_reader(tmp_path: Path) -> None:
    from algorithm.slide.openslide_reader import OpenSlideReader
    from algorithm.slide.tiff_reader import TiffReader

    pages = np.stack([blob_image(128, 96, seed=k) for k in range(3)])
    tiled = tmp_path / "tiled.tiff"  # OpenSlide opens it, as its first page
    tifffile.imwrite(tiled, pages, tile=(64, 64), photometric="rgb")
    plain = tmp_path / "plain.tif"  # stripped: tifffile's reader
    with tifffile.TiffWriter(plain) as tif:
        for page in pages:
            tif.write(page, photometric="rgb", metadata=None)  # no shape stored: pages of one size
    with OpenSlideReader(tiled) as slide:
        assert slide.dimensions == (128, 96)  # what open_slide no longer lets through
    for path in (tiled, plain):
        with pytest.raises(SlideError, match=rf"{path.name}: a stack of 3 images of 128 x 96 pixels, not one slide"):
            open_slide(path)
    with pytest.raises(SlideError, match=r"plain\.tif: a stack of 3 images"):
        TiffReader(plain)


def test_a_pyramid_of_reduced_pages_is_not_a_stack(tmp_path: Path) -> None:
    from algorithm.slide.tiff_reader import TiffReader

    image = blob_image(256, 192)
    path = write_pyramid_tiff(tmp_path / "pyramid.tiff", image, levels=3)
    with open_slide(path) as slide, TiffReader(path) as plain:
        assert slide.level_count == plain.level_count == 3


# --- a level above 0 reads as stored, whichever reader --------------------------------------------------


def test_real_svs_level_of_a_fractional_downsample_reads_its_stored_pixels(shared_data: Path) -> None:
    """The TCGA slide's level 1 is 2221 x 1783 under 4443 x 3567 (downsample 2.0005). OpenSlide would paint it
    from a level-0 position divided by that, between the level's pixels: shifted, interpolated pixels."""
    from algorithm.slide.tiff_reader import TiffReader

    path = shared_data / "wsi" / "tcga-cr-7395-01a-01-ts1.svs"
    with tifffile.TiffFile(path) as tif:
        stored = tif.series[0].levels[1].asarray()
    with open_slide(path, mpp=0.25) as slide, TiffReader(path, (0.25, 0.25)) as plain:
        assert slide.backend == "openslide"
        ds = slide.level_downsamples[1]
        assert ds == pytest.approx(2.0005, abs=1e-4)
        for location in [(2000, 2000), (1000, 776), (1001, 777), (3001, 1501), (4300, 3400)]:
            x, y = (int(c // ds) for c in location)
            expected = np.full((200, 200, 3), 255, np.uint8)
            inside = stored[y : y + 200, x : x + 200]
            expected[: inside.shape[0], : inside.shape[1]] = inside
            np.testing.assert_array_equal(slide.read_region(location, 1, (200, 200)), expected, str(location))
            np.testing.assert_array_equal(plain.read_region(location, 1, (200, 200)), expected, str(location))
        # a thumbnail read from level 1 too
        np.testing.assert_array_equal(slide.get_thumbnail(2000), plain.get_thumbnail(2000))


def test_real_svs_tiles_of_level_one_are_the_engines(shared_data: Path) -> None:
    """``algorithm.tiling.read_tile`` (through the reader) and the tile engine (from the stored tiles) see the
    same pixels on a level whose downsample is not whole."""
    from algorithm.engine.reading import RegionReader
    from algorithm.tiling import read_tile, tile_grid

    with open_slide(shared_data / "wsi" / "tcga-cr-7395-01a-01-ts1.svs", mpp=0.25) as slide:
        grid = tile_grid(slide, 256, 0, mpp=1.0)
        assert grid.level == 1
        engine = RegionReader(slide, grid, jpeg_scaling=False)
        for tile in grid.tiles[:12]:
            np.testing.assert_array_equal(read_tile(slide, grid, tile), engine.read_tile(tile))


def test_a_slide_named_as_a_picture_is_refused_not_read_flat(shared_data: Path, tmp_path: Path) -> None:
    misnamed = tmp_path / "cmu-1.png"
    misnamed.symlink_to(shared_data / "wsi" / "cmu-1-small-region.svs")  # Pillow would read its first image
    with pytest.raises(SlideError, match=r"cmu-1\.png: a TIFF \(a slide's format\) named \.png: give it its own"):
        open_slide(misnamed)
