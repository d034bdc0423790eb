from __future__ import annotations

import numpy as np
import openslide
import pytest
import tifffile

from algorithm.errors import ConfigError
from training.synth.pyramid import TiffOptions, level_downsamples, tile_count, write_pyramid


def _pattern(x, y, w, h, d):
    """A deterministic test image: a function of level-0 position, like the renderer."""
    xs = x + (np.arange(w) + 0.5) * d
    ys = y + (np.arange(h) + 0.5) * d
    r = (xs[None, :] / 7.0) % 256
    g = (ys[:, None] / 5.0) % 256
    b = ((xs[None, :] + ys[:, None]) / 11.0) % 256
    return np.stack(np.broadcast_arrays(r, g, b), axis=-1).astype(np.uint8)


def test_level_downsamples_stop_when_the_top_fits():
    assert level_downsamples(2048, 1000) == [1]
    assert level_downsamples(2049, 1000) == [1, 4]
    assert level_downsamples(50000, 50000) == [1, 4, 16, 64]
    assert level_downsamples(50000, 50000, factor=2) == [1, 2, 4, 8, 16, 32]


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="compression"):
        TiffOptions(compression="lzw")
    with pytest.raises(ConfigError, match="tile"):
        TiffOptions(tile=300)


def test_openslide_reads_levels_mpp_and_pixels(tmp_path):
    path = tmp_path / "p.tiff"
    opts = TiffOptions(compression="deflate", tile=256, top_max=400)
    ticks = []
    levels = write_pyramid(path, 1000, 700, 0.5, _pattern, opts, on_tile=lambda: ticks.append(1))
    assert [d for d, _, _ in levels] == [1, 4]
    assert len(ticks) == tile_count(1000, 700, opts)
    s = openslide.OpenSlide(str(path))
    assert s.level_count == 2
    assert s.dimensions == (1000, 700)
    assert s.level_dimensions[1] == (250, 175)
    assert float(s.properties["openslide.mpp-x"]) == pytest.approx(0.5)
    assert float(s.properties["openslide.mpp-y"]) == pytest.approx(0.5)
    region = np.asarray(s.read_region((300, 200), 0, (400, 300)).convert("RGB"))
    assert np.array_equal(region, _pattern(300, 200, 400, 300, 1.0))
    low = np.asarray(s.read_region((0, 0), 1, (250, 175)).convert("RGB"))
    assert np.array_equal(low, _pattern(0, 0, 250, 175, 4.0))
    with tifffile.TiffFile(path) as tif:  # tifffile sees the same pyramid
        assert [lvl.shape for lvl in tif.series[0].levels] == [(700, 1000, 3), (175, 250, 3)]


def test_jpeg_tiles_are_close(tmp_path):
    path = tmp_path / "j.tiff"
    smooth = lambda x, y, w, h, d: np.full((h, w, 3), (200, 120, 180), np.uint8)  # noqa: E731
    write_pyramid(path, 600, 500, 0.25, smooth, TiffOptions(compression="jpeg", jpeg_quality=90, tile=256))
    s = openslide.OpenSlide(str(path))
    region = np.asarray(s.read_region((10, 10), 0, (500, 400)).convert("RGB")).astype(int)
    assert np.abs(region - (200, 120, 180)).max() <= 3
    assert float(s.properties["openslide.mpp-x"]) == pytest.approx(0.25)


def test_a_failure_leaves_no_file(tmp_path):
    calls = []

    def broken(x, y, w, h, d):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("render failed")
        return _pattern(x, y, w, h, d)

    with pytest.raises(RuntimeError):
        write_pyramid(tmp_path / "x.tiff", 1200, 900, 0.25, broken, TiffOptions(tile=256))
    assert list(tmp_path.iterdir()) == []
