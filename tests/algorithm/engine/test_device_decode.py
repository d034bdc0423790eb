"""Stored JPEG tiles decoded on the model's device: here the CPU (libjpeg-turbo, so the host's bytes)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from algorithm.engine import EngineOptions, TileRun
from algorithm.engine.device_decode import DeviceJpegTiles
from algorithm.engine.pool import THREAD_PREFIX
from algorithm.engine.reading import RegionReader
from algorithm.errors import SlideError
from algorithm.slide import open_slide
from algorithm.tiling import tile_grid
from tests.algorithm.engine.helpers import Echo, detections, slide_with_a_broken_tile
from tests.conftest import SHARED_DATA, blob_image, write_pyramid_tiff


def _pixels(
    path: Path, device_decode: bool, size: int = 64, overlap: int = 16, batch: int = 3, mpp: float | None = 0.5
) -> np.ndarray:
    with open_slide(path) as slide:
        grid = tile_grid(slide, size, overlap, mpp=mpp)
        options = EngineOptions(batch_size=batch, workers=2, on_device=True, device_decode=device_decode)
        run = TileRun(slide, grid, Echo(), "cpu", options=options)
        out = np.concatenate([r.output for r in run])
        assert (run.jpeg is not None) == device_decode
        if run.jpeg is not None:
            assert run.jpeg.cached == 0  # every stored tile dropped after its last use
            native = slide.native_tiles()
            assert native is not None
            stored = {k for t in grid.tiles for k in run.reader.keys(t)}
            with_data = [k for k in stored if native.jpeg_stream(grid.level, *k)]
            assert run.stats.decoded == len(with_data)  # each stored tile with data decoded once
            assert run.stats.decode > 0
        return out


def test_device_decoding_gives_the_hosts_bytes_edges_included(tmp_path: Path) -> None:
    # 900 x 700 at 0.25 um/px in 64 px stored tiles: edge tiles partly past the slide, grid tiles past its edge
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(900, 700, seed=5), mpp=0.25, compression="jpeg")
    np.testing.assert_array_equal(_pixels(path, True), _pixels(path, False))


def test_a_dicom_slides_jpeg_frames_decode_on_the_device_as_on_the_host() -> None:
    """A real DICOM WSI (JPEG Baseline frames of 500 px): each frame is a whole JPEG stream, decoded
    as pydicom does within decoder noise."""
    path = SHARED_DATA / "wsi" / "small_dicom.dcm"
    device = _pixels(path, True, size=256, overlap=32, batch=4, mpp=None).astype(np.int16)
    host = _pixels(path, False, size=256, overlap=32, batch=4, mpp=None)
    # the host decodes DICOM's JPEG through pydicom and Pillow: a level apart in a few pixels
    assert np.abs(device - host).max() <= 1 and np.abs(device - host).mean() < 1e-3


def test_tiles_with_no_data_are_glass(tmp_path: Path) -> None:
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(512, 512, seed=3), mpp=0.5, compression="jpeg")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        entry = page.tags["TileByteCounts"]
        counts_at = entry.valueoffset
        n = len(page.databytecounts)
        dtype = np.dtype(tif.byteorder + {3: "u2", 4: "u4", 16: "u8"}[int(entry.dtype)])
    with open(path, "r+b") as fh:  # the first stored tile: no data
        fh.seek(counts_at)
        counts = np.frombuffer(fh.read(n * dtype.itemsize), dtype=dtype).copy()
        counts[0] = 0
        fh.seek(counts_at)
        fh.write(counts.tobytes())
    device = _pixels(path, True, overlap=0)
    np.testing.assert_array_equal(device, _pixels(path, False, overlap=0))
    assert (device[0] == 255).all()  # the first tile: white


def test_the_detections_are_the_same(synthetic_slide) -> None:
    found = {
        device_decode: detections(
            synthetic_slide.files.slide, EngineOptions(on_device=True, device_decode=device_decode)
        )
        for device_decode in (False, True)
    }
    assert len(found[False].candidates) > 0 and found[True].engine.decode > 0
    np.testing.assert_array_equal(found[True].candidates.points, found[False].candidates.points)
    np.testing.assert_array_equal(found[True].candidates.scores, found[False].candidates.scores)


def test_slides_whose_tiles_are_not_jpeg_stay_on_the_host(tmp_path: Path) -> None:
    deflate = write_pyramid_tiff(tmp_path / "d.tiff", blob_image(300, 200, seed=1), mpp=0.5, compression="deflate")
    with open_slide(deflate) as slide:
        grid = tile_grid(slide, 64, 0, mpp=0.5)
        reader = RegionReader(slide, grid, tilewise=False)
        assert DeviceJpegTiles.open(reader, [grid.tiles], torch.device("cpu")) is None
        run = TileRun(slide, grid, Echo(), "cpu", options=EngineOptions(on_device=True, device_decode=True))
        assert run.jpeg is None and len(list(run)) > 0


def test_aperio_rgb_jpeg_decodes_on_the_device_as_on_the_host() -> None:
    """Aperio's JPEG holds RGB samples without saying so in the stream; the stream handed to the device's
    decoder carries an Adobe marker that says so (unmarked, a decoder reads it as YCbCr: tens of levels off)."""
    with open_slide(SHARED_DATA / "wsi" / "cmu-1-small-region.svs") as slide:
        grid = tile_grid(slide, 256, 0, mpp=float(slide.mpp[0]))
        reader = RegionReader(slide, grid, tilewise=False)
        assert DeviceJpegTiles.open(reader, [grid.tiles], torch.device("cpu")) is not None
        tiles = grid.tiles[:6]
        run = TileRun(slide, grid, Echo(), "cpu", options=EngineOptions(on_device=True, device_decode=True))
        device = np.concatenate([r.output for r in run])[: len(tiles)]
        host = np.stack([reader.read(tile) for tile in tiles])
        assert run.jpeg is not None
        assert np.abs(device.astype(np.int16) - host).mean() < 0.5


def test_a_corrupt_tile_is_one_error_naming_the_file_and_the_tile(tmp_path: Path) -> None:
    path = slide_with_a_broken_tile(tmp_path)
    with open_slide(path) as slide:
        grid = tile_grid(slide, 128, 16)
        options = EngineOptions(batch_size=4, workers=3, on_device=True, device_decode=True)
        run = TileRun(slide, grid, Echo(), "cpu", options=options)
        assert run.jpeg is not None
        with pytest.raises(SlideError, match=r"broken.tiff: cannot decode tile \(\d+, \d+\) of level 0"):
            list(run)
    assert not [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_jpeg_streams_carry_the_shared_tables(tmp_path: Path) -> None:
    """Aperio's SVS store tables once per page: the spliced stream decodes as the stored tile does."""
    from algorithm.engine.device_decode import _decode

    with open_slide(SHARED_DATA / "wsi" / "cmu-1-small-region.svs") as slide:
        stored = slide.native_tiles()
        assert stored is not None
        stream = stored.jpeg_stream(0, 1, 1)
        assert stream is not None and stream[:2] == b"\xff\xd8" and stream.count(b"\xff\xd8") == 1
        decoded = _decode([stream], torch.device("cpu"))[0]
        assert tuple(decoded.shape) == stored.decode(0, 1, 1).shape
    deflate = write_pyramid_tiff(tmp_path / "d.tiff", blob_image(300, 200, seed=1), mpp=0.5, compression="deflate")
    with open_slide(deflate) as slide:
        stored = slide.native_tiles()
        assert stored is not None and stored.jpeg_stream(0, 0, 0) is None
