"""JPEG tiles decoded straight at 1/2, 1/4, 1/8 size: the same image as decoding and box-shrinking, within noise."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from algorithm.errors import SlideError
from algorithm.slide import open_slide
from algorithm.slide.jpeg_scaling import decode_scaled
from algorithm.slide.resample import reduce_box
from tests.conftest import blob_image, write_pyramid_tiff


def _jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def _close(got: np.ndarray, exact: np.ndarray) -> None:
    """Within decoder noise: on average under a level apart, 99 % of values within 4 levels."""
    difference = np.abs(got.astype(np.int16) - exact.astype(np.int16))
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 4, (difference.mean(), difference.max())


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_a_scaled_decode_is_the_box_shrunk_decode_within_noise(factor: int, shared_data: Path) -> None:
    he = np.asarray(Image.open(shared_data / "he" / "tiatoolbox-target.png").convert("RGB"))
    stream = _jpeg(he[:256, :512])  # real H&E (white noise, as blob_image's texture, differs more)
    full = decode_scaled(stream, 1)
    np.testing.assert_array_equal(full, np.asarray(Image.open(io.BytesIO(stream)).convert("RGB")))
    got = decode_scaled(stream, factor)
    assert got.shape == (256 // factor, 512 // factor, 3) and got.dtype == np.uint8 and got.flags.writeable
    _close(got, reduce_box(full, factor))
    assert np.array_equal(decode_scaled(stream, factor), got)  # deterministic


def test_factors_sizes_and_data_it_cannot_decode_are_refused() -> None:
    stream = _jpeg(blob_image(96, 64, seed=1))
    with pytest.raises(ValueError, match="1/1, 1/2, 1/4 or 1/8 of the size, not 1/3"):
        decode_scaled(stream, 3)
    with pytest.raises(ValueError, match="JPEG does not shrink by 8 into whole pixels"):
        decode_scaled(_jpeg(blob_image(96, 60, seed=1)), 8)  # 60: not whole pixels at 1/8
    with pytest.raises(OSError, match="truncated"):
        decode_scaled(stream[: len(stream) // 2], 2)


def test_stored_jpeg_tiles_decode_scaled_and_others_are_left_to_the_caller(tmp_path: Path, shared_data: Path) -> None:
    image = np.asarray(Image.open(shared_data / "he" / "tiatoolbox-target.png").convert("RGB"))[:200, :300]  # real H&E
    jpeg = write_pyramid_tiff(tmp_path / "jpeg.tiff", image, tile=64, levels=1, compression="jpeg")
    deflate = write_pyramid_tiff(tmp_path / "deflate.tiff", image, tile=64, levels=1, compression="deflate")
    with open_slide(jpeg) as slide:
        native = slide.native_tiles()
        assert native is not None
        for column, row in [(0, 0), (2, 1)]:
            got = native.decode_scaled(0, column, row, 2)
            assert got is not None and got.shape == (32, 32, 3)
            _close(got, reduce_box(native.decode(0, column, row), 2))
        edge = native.decode_scaled(0, 4, 3, 2)  # stored whole, past the image's edge too
        assert edge is not None and edge.shape == (32, 32, 3)
        assert native.decode_scaled(0, 0, 0, 3) is None  # not a JPEG scale
        assert native.decode_scaled(0, 0, 0, 128) is None  # larger than the tile
    with open_slide(deflate) as slide:
        native = slide.native_tiles()
        assert native is not None and native.decode_scaled(0, 0, 0, 2) is None  # not JPEG


@pytest.mark.filterwarnings("ignore::UserWarning:pydicom")  # the real DICOM's over-long UIDs, its JFIF marker
def test_a_real_svs_and_a_real_dicom_decode_scaled(shared_data: Path) -> None:
    for name in ("wsi/cmu-1-small-region.svs", "wsi/small_dicom.dcm"):
        with open_slide(shared_data / name) as slide:
            native = slide.native_tiles()
            assert native is not None, name
            columns, rows = native.tile_grid(0)
            key = (columns // 2, rows // 2)
            got = native.decode_scaled(0, *key, 2)
            assert got is not None, name
            _close(got, reduce_box(native.decode(0, *key), 2))


def test_a_corrupt_tile_raises_naming_the_file_and_the_tile(tmp_path: Path) -> None:
    path = write_pyramid_tiff(tmp_path / "corrupt.tiff", blob_image(300, 200), tile=64, levels=1, compression="jpeg")
    with tifffile.TiffFile(path) as tif:
        offset = int(tif.pages[0].dataoffsets[7])
    data = bytearray(path.read_bytes())
    data[offset : offset + 48] = b"\x5a" * 48  # garbage over the tile's header
    path.write_bytes(bytes(data))
    with open_slide(path) as slide:
        native = slide.native_tiles()
        assert native is not None
        assert native.decode_scaled(0, 1, 1, 2) is not None  # its neighbours still decode
        with pytest.raises(SlideError, match=r"corrupt\.tiff: cannot decode tile \(2, 1\) of level 0"):
            native.decode_scaled(0, 2, 1, 2)


def test_a_level_whose_jpeg_pillow_reads_otherwise_is_left_to_the_caller(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = np.asarray(Image.open(shared_data / "he" / "tiatoolbox-target.png").convert("RGB"))[:200, :300]
    path = write_pyramid_tiff(tmp_path / "s.tiff", image, tile=64, levels=1, compression="jpeg")
    with open_slide(path) as slide:
        native = slide.native_tiles()
        assert native is not None
        decode = native.decode
        # as if the slide's own decoder read the colours otherwise (an unmarked colour space): checked once
        monkeypatch.setattr(native, "decode", lambda level, column, row: 255 - decode(level, column, row))
        assert native.decode_scaled(0, 1, 1, 2) is None
        monkeypatch.setattr(native, "decode", decode)
        assert native.decode_scaled(0, 1, 1, 2) is None  # the level's verdict stands
