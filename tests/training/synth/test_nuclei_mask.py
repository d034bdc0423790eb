"""The level-0 nuclei mask: written beside the slide, on its pixels, streamed, and optional."""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import pytest
import tifffile
from PIL import Image

from algorithm.errors import OutputError
from training.cli import main
from training.synth import generate, nuclei_mask
from training.synth.config import SynthConfig
from training.synth.generate import SlideResult, generate_slide
from training.synth.nuclei_mask import nuclei_mask_writer
from training.synth.pyramid import TiffOptions
from training.synth.render import cells_in_region, render_concentrations, render_region, render_region_with_nuclei

from .conftest import recorded_for_this_machine

# Small, two levels (1100 > 1024) and tiles that do not divide the size: edge tiles and a level-1 pass.
SMALL = SynthConfig(seed=10, width=1100, height=900, label="tumour", mitoses=6, imposters=6, scanner="A")
SMALL_OPTIONS = TiffOptions(compression="deflate", tile=256, top_max=1024)
NUCLEUS_KINDS = ("tumour", "gland", "fibroblast", "lymphocyte", "wall")


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _mask(result: SlideResult) -> np.ndarray:
    assert result.files.nuclei_mask is not None
    with tifffile.TiffFile(result.files.nuclei_mask) as tif:
        assert len(tif.pages) == 1
        return tif.pages.first.asarray()


def _level0(result: SlideResult) -> np.ndarray:
    with tifffile.TiffFile(result.files.slide) as tif:
        return tif.pages[0].asarray()


@pytest.fixture(scope="module")
def with_mask(tmp_path_factory) -> SlideResult:
    return generate_slide(SMALL, tmp_path_factory.mktemp("nuclei-on"), options=SMALL_OPTIONS, nuclei_mask=True)


@pytest.fixture(scope="module")
def without_mask(tmp_path_factory) -> SlideResult:
    return generate_slide(SMALL, tmp_path_factory.mktemp("nuclei-off"), options=SMALL_OPTIONS)


# ----------------------------------------------------------------------------- the file


def test_mask_is_a_binary_tiled_tiff_on_the_level0_grid(with_mask):
    files = with_mask.files
    assert files.nuclei_mask == files.slide.parent / "synth-000010.nuclei-mask.tiff"
    assert files.all()[-1] == files.nuclei_mask
    mask = _mask(with_mask)
    assert mask.shape == (SMALL.height, SMALL.width) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    assert 0.01 < (mask > 0).mean() < 0.5
    assert not [p for p in files.slide.parent.iterdir() if p.name.endswith(".part")]
    # Laid on the slide: its level-0 tiles, compression and resolution; nothing that varies between runs.
    with tifffile.TiffFile(files.nuclei_mask) as tif, tifffile.TiffFile(files.slide) as slide:
        page, level0 = tif.pages.first, slide.pages.first
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (level0.tilelength, level0.tilewidth) == (
            256,
            256,
        )
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE and page.photometric == 1  # min-is-black
        for tag in ("XResolution", "YResolution", "ResolutionUnit"):
            assert page.tags[tag].value == level0.tags[tag].value, tag
        assert page.get_resolution(tifffile.RESUNIT.MICROMETER) == pytest.approx((1 / SMALL.mpp, 1 / SMALL.mpp))
        assert "DateTime" not in page.tags and page.tags["Software"].value == "training.synth"
    truth = json.loads(files.truth.read_text())
    nuclei = truth["masks"]["nuclei"]
    assert nuclei["file"] == truth["files"]["nuclei_mask"] == files.nuclei_mask.name and nuclei["downsample"] == 1
    assert nuclei["area_mm2"] == pytest.approx((mask > 0).sum() * (SMALL.mpp / 1000) ** 2, abs=1e-5)


def test_same_seed_same_bytes(with_mask, tmp_path):
    again = generate_slide(SMALL, tmp_path, options=SMALL_OPTIONS, nuclei_mask=True)
    for a, b in zip(with_mask.files.all(), again.files.all(), strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_the_option_changes_no_other_byte(with_mask, without_mask):
    assert without_mask.files.nuclei_mask is None and len(without_mask.files.all()) == 5
    assert not list(without_mask.files.slide.parent.glob("*nuclei*"))
    for off, on in zip(without_mask.files.all(), with_mask.files.all(), strict=False):
        if off == without_mask.files.truth:
            continue
        assert off.read_bytes() == on.read_bytes(), off.name
    truth_on = json.loads(with_mask.files.truth.read_text())
    del truth_on["masks"]["nuclei"], truth_on["files"]["nuclei_mask"]
    assert truth_on == json.loads(without_mask.files.truth.read_text())


def test_without_the_option_the_files_are_those_written_before_it_existed(tmp_path):
    """Digests of a slide written by the generator before --nuclei-masks (decoded pixels: independent of zlib).

    Without confounders (they came later): the truth file as it was, less the keys they added.
    """
    cfg = SynthConfig(seed=3, width=768, height=512, label="tumour", mitoses=2, imposters=2, scanner="B")
    result = generate_slide(cfg.replace(confounders=0), tmp_path, options=TiffOptions(compression="deflate", tile=256))
    truth = json.loads(result.files.truth.read_text())
    assert truth["confounders"] == [] and set(truth["counts"]["confounders"].values()) == {0}
    for key in ("confounders", "mitoses_per_mm2"):
        del truth["config"][key]
    del truth["counts"]["confounders"], truth["confounders"], truth["confounder_rates_per_mm2"]
    digests = {
        "slide": _digest(_level0(result)),
        "tumour": _digest(np.asarray(Image.open(result.files.tumour_mask))),
        "tissue": _digest(np.asarray(Image.open(result.files.tissue_mask))),
        "midog": hashlib.sha256(result.files.midog.read_bytes()).hexdigest(),
        "truth": hashlib.sha256((json.dumps(truth, indent=2) + "\n").encode()).hexdigest(),
    }
    # level 0 made before --nuclei-masks (943930a^), per numpy SIMD level (conftest.simd_level); avx2: 2026-11-27
    slide = {
        "avx512": "d775dee858c6c4955162f3c70532b3fcb98cac3964a1d32c7c1eda0dbb8d88ff",
        "avx2": "976115b4942a25c482ba318c4d8dc4b0ac9ad2ee5275c006e6b1d0e32588a01d",
    }
    assert digests == {
        "slide": recorded_for_this_machine(slide),
        "tumour": "d8dbf6a02482bccc5a3fe332f6ae9f569576878ab276c1b8b2048bb03c5f539a",
        "tissue": "85bdd92db2b98070da1922240faf1dbaf172b7f03408fc06a0ccd4347df3ea15",
        "midog": "f82a27367c01d8f1d2f16b2b833f61ac9b5f440968d31821c04f3894ee42874f",
        "truth": "d24ef100b00a5afab35706865e228a3774cddec5be67711742b5961529166636",
    }


def test_command_line_option(tmp_path):
    args = ["synth", "--out", str(tmp_path), "--size", "512x400", "--seed", "7", "--mitoses", "1", "--quiet"]
    assert main([*args, "--imposters", "1", "--nuclei-masks"]) == 0
    mask = tifffile.imread(tmp_path / "synth-000007.nuclei-mask.tiff")
    assert mask.shape == (400, 512)
    assert json.loads((tmp_path / "synth-000007.truth.json").read_text())["masks"]["nuclei"]["downsample"] == 1
    assert main([*args, "--imposters", "1", "--out", str(tmp_path / "off")]) == 0
    assert not list((tmp_path / "off").glob("*nuclei*"))


# ----------------------------------------------------------------------------- on the pixels


def test_mask_foreground_is_the_dark_haematoxylin(with_mask):
    fg = _mask(with_mask) > 0
    grey = _level0(with_mask).mean(axis=2)
    h = render_concentrations(SMALL, 0, 0, SMALL.width, SMALL.height)[..., 0]
    tissue_bg = ~fg & (grey < 235)  # background that is not bare glass
    assert grey[fg].mean() < grey[tissue_bg].mean() - 60
    assert h[fg].mean() > 4 * h[tissue_bg].mean()
    # Aligned to the pixel: shifted by a pixel or two, the mask covers paler pixels.
    shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
    darkest = max(shifts, key=lambda shift: float(h[np.roll(fg, shift, axis=(0, 1))].mean()))
    assert darkest == (0, 0)


def test_truth_centres_fall_inside_the_mask(with_mask):
    fg = _mask(with_mask) > 0
    truth = json.loads(with_mask.files.truth.read_text())
    rows, cols = np.mgrid[: SMALL.height, : SMALL.width]
    centred = 0
    for cell in truth["mitoses"] + truth["imposters"]:
        x, y = int(cell["x"]), int(cell["y"])
        gap_um = np.hypot(cols[fg] - x, rows[fg] - y).min() * SMALL.mpp
        # One-piece figures cover their centre (a plate's chromatin may leave it a pixel's gap); anaphase and
        # telophase are two parts apart, an imposter sometimes two or three bodies: nearby, not necessarily on it.
        assert gap_um <= (1.0 if cell.get("phase") in ("prophase", "metaphase") else 5.0), cell
        centred += bool(fg[y, x])
    assert centred >= 0.7 * (SMALL.mitoses + SMALL.imposters)
    assert len(truth["mitoses"]) == SMALL.mitoses
    assert any(c["phase"] in ("prophase", "metaphase") for c in truth["mitoses"])
    cells = cells_in_region(SMALL, 0, 0, SMALL.width, SMALL.height)
    for kind in NUCLEUS_KINDS:
        xy = cells[kind].astype(int)
        assert fg[xy[:, 1], xy[:, 0]].all(), kind
    assert len(cells["tumour"]) > 20 and sum(len(cells[k]) for k in NUCLEUS_KINDS) > 50
    rbc = cells["rbc"].astype(int)
    if len(rbc):  # red cells are not nuclei (only where a nucleus overlaps one)
        assert fg[rbc[:, 1], rbc[:, 0]].mean() < 0.2


def test_mask_does_not_depend_on_the_tiles(with_mask):
    fg = _mask(with_mask) > 0
    x, y, w, h = 333, 217, 301, 199
    rgb, mask = render_region_with_nuclei(SMALL, x, y, w, h)
    assert np.array_equal(mask, fg[y : y + h, x : x + w])
    assert np.array_equal(rgb, render_region(SMALL, x, y, w, h))


# ----------------------------------------------------------------------------- the streaming writer


def _write_tiles(tiles, truth: np.ndarray, tile: int) -> None:
    height, width = truth.shape
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            tiles.add(x, y, truth[y : y + tile, x : x + tile])


def test_writer_streams_tiles_into_a_standard_tiled_tiff(tmp_path, monkeypatch):
    monkeypatch.setattr(nuclei_mask, "QUEUE_TILES", 2)  # the generator waits for the writer: bounded memory
    rng = np.random.default_rng(0)
    width, height, tile = 3000, 1100, 512
    truth = rng.random((height, width)) < 0.5
    path = tmp_path / "m.nuclei-mask.tiff"
    with nuclei_mask_writer(path, width, height, 0.5, tile) as tiles:
        _write_tiles(tiles, truth, tile)
    assert tiles.foreground == truth.sum()
    assert not [t for t in threading.enumerate() if t.name == "nuclei-mask-writer"]
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1 and tif.pages.first.is_tiled and len(tif.pages.first.dataoffsets) == 6 * 3
        assert np.array_equal(tif.pages.first.asarray(), truth * np.uint8(255))
    with Image.open(path) as image:  # an ordinary TIFF: Pillow (libtiff) reads it too
        assert np.array_equal(np.asarray(image), truth * np.uint8(255))


def test_writer_refuses_tiles_out_of_order_and_leaves_no_file(tmp_path):
    path = tmp_path / "m.tiff"
    with pytest.raises(ValueError, match="out of order"), nuclei_mask_writer(path, 100, 100, 0.25, 64) as tiles:
        tiles.add(0, 0, np.ones((64, 64), bool))
        tiles.add(0, 64, np.ones((36, 64), bool))
    with pytest.raises(ValueError, match="out of order"), nuclei_mask_writer(path, 100, 100, 0.25, 64) as tiles:
        tiles.add(0, 0, np.ones((50, 50), bool))  # not the TIFF's tile
    with pytest.raises(ValueError, match="incomplete"), nuclei_mask_writer(path, 100, 100, 0.25, 64) as tiles:
        tiles.add(0, 0, np.ones((64, 64), bool))
        tiles.add(64, 0, np.ones((64, 36), bool))
    assert list(tmp_path.iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name == "nuclei-mask-writer"]


def test_an_error_while_rendering_leaves_no_mask_and_no_slide(tmp_path, monkeypatch):
    calls: list[tuple] = []

    def failing(*args):
        if len(calls) == 3:
            raise RuntimeError("render failed")
        calls.append(args)
        return render_region_with_nuclei(*args)

    monkeypatch.setattr(generate, "render_region_with_nuclei", failing)
    with pytest.raises(RuntimeError, match="render failed"):
        generate_slide(SMALL, tmp_path, options=SMALL_OPTIONS, nuclei_mask=True)
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".tiff", ".part") or "nuclei" in p.name]
    assert not [t for t in threading.enumerate() if t.name == "nuclei-mask-writer"]


def test_a_writer_failure_reaches_the_generator(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nuclei_mask.tifffile, "TiffWriter", broken)
    with (
        pytest.raises(OutputError, match=r"m\.tiff: cannot be written: no space left on device"),
        nuclei_mask_writer(tmp_path / "m.tiff", 600, 600, 0.25, 256) as t,
    ):
        _write_tiles(t, np.ones((600, 600), bool), 256)
    assert list(tmp_path.iterdir()) == []
