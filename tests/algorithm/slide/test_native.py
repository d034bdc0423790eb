"""NativeTiles: stored tiles decoded straight from the file must equal OpenSlide's pixels."""

from __future__ import annotations

import math
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from algorithm.errors import SlideError
from algorithm.slide import open_slide
from algorithm.slide.base import SlideReader
from algorithm.slide.native import NativeTiles
from algorithm.slide.openslide_reader import OpenSlideReader
from algorithm.slide.tiff_reader import TiffReader
from tests.conftest import blob_image, write_pyramid_tiff

REAL_TIFFS = [
    "wsi/cmu-1-small-region.svs",  # Aperio JPEG (RGB, JPEGTables)
    "openslide/boxes.tiff",  # generic tiled TIFF, 4 levels, odd downsamples
    "openslide/small.svs",  # tiny Aperio JPEG
    "wsi/tcga-cr-7395-01a-01-ts1.svs",  # Aperio JPEG 2000 RGB (33005)
]


def _openslide_level(reader: SlideReader, level: int) -> np.ndarray:
    """The whole level through OpenSlide, read from (0, 0).

    A region at another origin of a level whose downsample is not an integer
    is resampled by OpenSlide (sub-pixel shift), so it is not the stored pixels.
    """
    w, h = reader.level_dimensions[level]
    return reader.read_region((0, 0), level, (w, h))


def _random_regions(rng: np.random.Generator, width: int, height: int, count: int):
    for _ in range(count):
        w = int(rng.integers(1, min(width, 700) + 1))
        h = int(rng.integers(1, min(height, 700) + 1))
        yield int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h


def _assert_equals_openslide(path: Path, seed: int = 0) -> None:
    with OpenSlideReader(path) as reader:
        native = reader.native_tiles()
        assert native is not None, f"{path.name}: expected native tiles"
        rng = np.random.default_rng(seed)
        for level, (w, h) in enumerate(reader.level_dimensions):
            expected = _openslide_level(reader, level)
            np.testing.assert_array_equal(native.read_region(level, 0, 0, w, h), expected)
            integer_downsample = float(reader.level_downsamples[level]).is_integer()
            for x, y, rw, rh in _random_regions(rng, w, h, 8):
                got = native.read_region(level, x, y, rw, rh)
                np.testing.assert_array_equal(got, expected[y : y + rh, x : x + rw])
                if integer_downsample:  # the reader's own region read agrees exactly too
                    ds = int(reader.level_downsamples[level])
                    np.testing.assert_array_equal(got, reader.read_region((x * ds, y * ds), level, (rw, rh)))


# --- equality with OpenSlide ----------------------------------------------------


@pytest.mark.parametrize("name", REAL_TIFFS)
def test_real_files_equal_openslide(shared_data: Path, name: str) -> None:
    _assert_equals_openslide(shared_data / name)


def test_synthetic_slide_equals_openslide(synthetic_slide) -> None:
    path = synthetic_slide.files.slide
    with OpenSlideReader(path) as reader:
        assert reader.level_count == 2
    _assert_equals_openslide(path, seed=1)


@pytest.mark.parametrize("compression", ["jpeg", "deflate", "lzw", "zstd", "packbits", None])
def test_compressions_equal_openslide(tmp_path: Path, compression: str | None) -> None:
    path = write_pyramid_tiff(tmp_path / "p.tiff", blob_image(600, 400), tile=64, levels=3, compression=compression)
    _assert_equals_openslide(path, seed=2)


def test_grey_equals_openslide(tmp_path: Path) -> None:
    path = tmp_path / "grey.tiff"
    tifffile.imwrite(path, blob_image(300, 200)[..., 0], tile=(64, 64), photometric="minisblack", compression="jpeg")
    _assert_equals_openslide(path)


def test_edge_tiles_are_whole_and_regions_cropped(tmp_path: Path) -> None:
    image = blob_image(600, 400)
    path = write_pyramid_tiff(tmp_path / "edge.tiff", image, tile=64, levels=1, compression="deflate")
    native = NativeTiles.open(path, ((600, 400),))
    assert native is not None
    with native:
        assert native.tile_size(0) == (64, 64)
        assert native.tile_grid(0) == (math.ceil(600 / 64), math.ceil(400 / 64))
        corner = native.decode(0, 9, 6)
        assert corner.shape == (64, 64, 3) and corner.dtype == np.uint8
        np.testing.assert_array_equal(corner[: 400 - 6 * 64, : 600 - 9 * 64], image[6 * 64 :, 9 * 64 :])
        np.testing.assert_array_equal(native.read_region(0, 550, 350, 50, 50), image[350:, 550:])
        with pytest.raises(SlideError, match="not inside"):
            native.read_region(0, 550, 350, 51, 50)
        with pytest.raises(IndexError):
            native.decode(0, 10, 0)


def test_empty_tile_is_white_as_in_openslide(tmp_path: Path) -> None:
    path = write_pyramid_tiff(tmp_path / "sparse.tiff", blob_image(300, 200), tile=64, levels=1)
    _zero_tile_pointers(path, tile=6)
    with OpenSlideReader(path) as reader:
        native = reader.native_tiles()
        assert native is not None
        tile = native.decode(0, 1, 1)  # index 6 = row 1, column 1 of a 5-column grid
        assert (tile == 255).all()
        np.testing.assert_array_equal(native.read_region(0, 0, 0, 300, 200), _openslide_level(reader, 0))


# --- refusals --------------------------------------------------------------------


def test_aperio_jpeg2000_ycbcr_is_refused(shared_data: Path, tmp_path: Path) -> None:
    # OpenSlide converts 33003's YCbCr itself; unverified against tifffile, so refused
    path = tmp_path / "ycbcr-j2k.svs"
    shutil.copy(shared_data / "wsi" / "tcga-cr-7395-01a-01-ts1.svs", path)
    _set_compression(path, old=33005, new=33003)
    with OpenSlideReader(path) as reader:
        assert reader.native_tiles() is None


def test_stripped_tiff_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stripped.tiff"
    tifffile.imwrite(path, blob_image(300, 200), photometric="rgb", rowsperstrip=16)
    assert NativeTiles.open(path, ((300, 200),)) is None
    with open_slide(path) as slide:
        assert isinstance(slide, TiffReader)
        assert slide.native_tiles() is None


def test_sixteen_bit_and_rgba_are_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.tiff"
    tifffile.imwrite(deep, (blob_image(300, 200).astype(np.uint16) * 257), tile=(64, 64), photometric="rgb")
    rgba = tmp_path / "rgba.tiff"
    tifffile.imwrite(
        rgba,
        np.dstack([blob_image(300, 200), np.full((200, 300), 255, np.uint8)]),
        tile=(64, 64),
        photometric="rgb",
        extrasamples=["unassalpha"],
    )
    for path in (deep, rgba):
        assert NativeTiles.open(path, ((300, 200),)) is None


def test_itk_and_dicom_have_none(shared_data: Path, tmp_path: Path) -> None:
    mha = tmp_path / "image.mha"
    sitk.WriteImage(sitk.GetImageFromArray(blob_image(300, 200), isVector=True), str(mha))
    with open_slide(mha) as slide:
        assert slide.native_tiles() is None
    assert NativeTiles.open(shared_data / "wsi" / "small_dicom.dcm", ((3236, 2638),)) is None


def test_level_sizes_must_match_pages(tmp_path: Path) -> None:
    path = write_pyramid_tiff(tmp_path / "p.tiff", blob_image(300, 200), tile=64, levels=2)
    assert NativeTiles.open(path, ((300, 200), (150, 100))) is not None
    assert NativeTiles.open(path, ((300, 200), (151, 100))) is None
    assert NativeTiles.open(path, ((300, 200), (150, 100), (75, 50))) is None
    assert NativeTiles.open(path, ()) is None


def test_open_never_raises(shared_data: Path, tmp_path: Path) -> None:
    assert NativeTiles.open(shared_data / "openslide" / "unopenable.tiff", ((1, 1),)) is None
    assert NativeTiles.open(tmp_path / "absent.tiff", ((10, 10),)) is None
    assert NativeTiles.open(tmp_path, ((10, 10),)) is None
    (tmp_path / "garbage.tiff").write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    assert NativeTiles.open(tmp_path / "garbage.tiff", ((10, 10),)) is None
    levels = ((600, 400), (300, 200), (150, 100))
    data = write_pyramid_tiff(tmp_path / "whole.tiff", blob_image(), compression="jpeg").read_bytes()
    opened = 0
    for fraction in (0.0, 0.01, 0.1, 0.33, 0.66, 0.99):
        truncated = tmp_path / f"truncated-{fraction}.tiff"
        truncated.write_bytes(data[: int(len(data) * fraction)])
        native = NativeTiles.open(truncated, levels)
        if native is not None:  # every directory survived: missing tile data is an error on decode
            opened += 1
            with native, pytest.raises(SlideError, match=rf"truncated-{fraction}\.tiff: .* \(the file is truncated\)"):
                for level, (w, h) in enumerate(levels):
                    native.read_region(level, 0, 0, w, h)
    assert opened  # at 99 % the directories are all there, the last level's tiles are not


def test_unreadable_svs_raises_on_decode(shared_data: Path) -> None:
    native = NativeTiles.open(shared_data / "openslide" / "unreadable.svs", ((16, 16),))
    assert native is not None
    with native, pytest.raises(SlideError, match=r"unreadable\.svs: cannot decode tile \(0, 0\) of level 0"):
        native.decode(0, 0, 0)


# --- corruption, threads, lifetime -------------------------------------------------------


@pytest.mark.parametrize("compression", ["jpeg", "deflate"])
def test_corrupt_tile_raises_naming_file_and_tile(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "corrupt.tiff"
    tifffile.imwrite(path, blob_image(300, 200), tile=(64, 64), photometric="rgb", compression=compression)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        offset, count = int(page.dataoffsets[7]), int(page.databytecounts[7])
    data = bytearray(path.read_bytes())
    data[offset : offset + min(count, 48)] = b"\x5a" * min(count, 48)  # garbage over the tile's header
    path.write_bytes(bytes(data))
    native = NativeTiles.open(path, ((300, 200),))
    assert native is not None
    with native:
        native.decode(0, 1, 1)  # its neighbours still decode
        with pytest.raises(SlideError, match=r"corrupt\.tiff: cannot decode tile \(2, 1\) of level 0"):
            native.decode(0, 2, 1)  # index 7 of a 5-column grid


def test_parallel_decode_equals_serial(synthetic_slide) -> None:
    with open_slide(synthetic_slide.files.slide) as slide:
        native = slide.native_tiles()
        assert native is not None
        jobs = [
            (level, column, row)
            for level in range(native.level_count)
            for row in range(native.tile_grid(level)[1])
            for column in range(native.tile_grid(level)[0])
        ]
        serial = [native.decode(*job) for job in jobs]
        with ThreadPoolExecutor(4) as pool:
            for _ in range(3):
                parallel = list(pool.map(lambda job: native.decode(*job), jobs[::-1]))[::-1]
                for a, b in zip(serial, parallel, strict=True):
                    np.testing.assert_array_equal(a, b)


def test_reader_caches_and_closes_native_tiles(shared_data: Path) -> None:
    slide = open_slide(shared_data / "openslide" / "boxes.tiff")
    native = slide.native_tiles()
    assert native is not None and slide.native_tiles() is native
    assert native.level_count == slide.level_count
    slide.close()
    with pytest.raises(SlideError, match=r"boxes\.tiff: cannot read tile"):
        native.decode(0, 0, 0)
    assert slide.native_tiles() is None  # not reopened after close


def test_tiff_reader_native_tiles_equal_its_pixels(tmp_path: Path) -> None:
    # LZMA tiles: OpenSlide refuses them, TiffReader reads them with tifffile
    path = write_pyramid_tiff(tmp_path / "lzma.tiff", blob_image(600, 400), tile=64, levels=2, compression="lzma")
    with open_slide(path) as slide:
        assert isinstance(slide, TiffReader)
        native = slide.native_tiles()
        assert native is not None
        for level, (w, h) in enumerate(slide.level_dimensions):
            np.testing.assert_array_equal(native.read_region(level, 0, 0, w, h), slide._read_level(level, 0, 0, w, h))


# --- helpers that patch TIFF directories in place ------------------------------------


def _zero_tile_pointers(path: Path, tile: int) -> None:
    """Set one tile's TileOffsets and TileByteCounts entries to 0 (an empty tile)."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        fmt = tif.byteorder + ("Q" if tif.is_bigtiff else "I")
        spots = [page.tags[code].valueoffset for code in (324, 325)]  # TileOffsets, TileByteCounts
    with open(path, "r+b") as fh:
        for spot in spots:
            fh.seek(spot + tile * struct.calcsize(fmt))
            fh.write(struct.pack(fmt, 0))


def _set_compression(path: Path, old: int, new: int) -> None:
    """Rewrite the Compression tag of every page stored with ``old``."""
    with tifffile.TiffFile(path) as tif:
        fmt = tif.byteorder + "H"
        pages = [page for page in tif.pages if isinstance(page, tifffile.TiffPage)]  # TiffFrames only if asked for
        spots = [page.tags[259].valueoffset for page in pages if page.compression == old]
    assert spots
    with open(path, "r+b") as fh:
        for spot in spots:
            fh.seek(spot)
            fh.write(struct.pack(fmt, new))
