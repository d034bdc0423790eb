from __future__ import annotations

import json

import numpy as np
import openslide
import pytest
from PIL import Image

from training.synth.cells import cells_in_region
from training.synth.config import SynthConfig
from training.synth.generate import SlideFiles, generate_slide, mask_downsample
from training.synth.pyramid import TiffOptions
from training.synth.render import render_concentrations, render_region
from training.synth.scanners import get_scanner

from .conftest import NORMAL, TUMOUR


def _truth(result):
    return json.loads(result.files.truth.read_text())


def test_all_files_are_written_and_nothing_partial(tumour_slide):
    for path in tumour_slide.files.all():
        assert path.is_file() and path.stat().st_size > 0
    assert not [p for p in tumour_slide.files.slide.parent.iterdir() if p.name.endswith(".part")]


def test_openslide_sees_levels_mpp_and_the_rendered_pixels(tumour_slide):
    s = openslide.OpenSlide(str(tumour_slide.files.slide))
    assert s.dimensions == (TUMOUR.width, TUMOUR.height)
    assert s.level_count == 2
    assert s.level_downsamples[1] == pytest.approx(4.0)
    assert float(s.properties["openslide.mpp-x"]) == pytest.approx(TUMOUR.mpp)
    assert float(s.properties["openslide.mpp-y"]) == pytest.approx(TUMOUR.mpp)
    x, y = 700, 500
    read = np.asarray(s.read_region((x, y), 0, (300, 200)).convert("RGB"))
    assert np.array_equal(read, render_region(TUMOUR, x, y, 300, 200))  # deflate: lossless
    low = np.asarray(s.read_region((0, 0), 1, (640, 384)).convert("RGB"))
    assert np.array_equal(low, render_region(TUMOUR, 0, 0, 640, 384, 4.0))


def test_jpeg_slide_reads_close_to_the_render(normal_slide):
    s = openslide.OpenSlide(str(normal_slide.files.slide))
    x, y = 1000, 600
    read = np.asarray(s.read_region((x, y), 0, (256, 256)).convert("RGB")).astype(float)
    ref = render_region(NORMAL, x, y, 256, 256).astype(float)
    psnr = 10 * np.log10(255**2 / np.mean((read - ref) ** 2))
    assert psnr > 30


def test_truth_json_describes_the_slide(tumour_slide):
    t = _truth(tumour_slide)
    scanner = get_scanner(TUMOUR.scanner)
    assert t["seed"] == TUMOUR.seed and t["config"] == TUMOUR.to_dict()
    assert t["label"] == "tumour" and t["mpp"] == TUMOUR.mpp
    assert (t["width"], t["height"]) == (TUMOUR.width, TUMOUR.height)
    assert t["scanner"]["name"] == "A"
    assert t["scanner"]["stain_matrix"]["haematoxylin"] == list(scanner.haematoxylin)
    assert t["scanner"]["stain_matrix"]["eosin"] == list(scanner.eosin)
    assert t["scanner"]["i0"] == list(scanner.i0)
    assert t["files"]["slide"] == tumour_slide.files.slide.name
    assert t["levels"][0] == {"downsample": 1, "width": TUMOUR.width, "height": TUMOUR.height}
    midog = json.loads(tumour_slide.files.midog.read_text())
    assert t["counts"]["mitoses"] == sum(a["category_id"] == 1 for a in midog["annotations"]) == TUMOUR.mitoses
    assert t["counts"]["imposters"] == sum(a["category_id"] == 2 for a in midog["annotations"]) == TUMOUR.imposters
    assert midog["images"][0]["file_name"] == tumour_slide.files.slide.name


def test_masks_match_the_recorded_downsample_and_the_tumour_axis(tumour_slide):
    t = _truth(tumour_slide)
    ds = t["masks"]["tumour"]["downsample"]
    assert ds == mask_downsample(TUMOUR.width, TUMOUR.height)
    tumour = np.asarray(Image.open(tumour_slide.files.tumour_mask))
    tissue = np.asarray(Image.open(tumour_slide.files.tissue_mask))
    assert tumour.shape == tissue.shape == (-(-TUMOUR.height // ds), -(-TUMOUR.width // ds))
    assert set(np.unique(tumour)) == {0, 255}
    assert ((tumour > 0) & (tissue == 0)).sum() == 0
    axis = t["tumour"]["major_axis_um"]
    outline = t["tumour"]["outline"]
    # The measured axis is close to the drawn outline's major diameter (boundary wobble aside).
    assert 0.8 < axis / (2 * outline["a"] * TUMOUR.mpp) < 1.3
    (x1, y1), (x2, y2) = t["tumour"]["major_axis_endpoints_px"]
    assert abs(np.hypot(x2 - x1, y2 - y1) * TUMOUR.mpp - axis) < 1.0
    # The endpoints (of the equal-moment ellipse) lie near the irregular outline.
    rows, cols = np.nonzero(tumour)
    for x, y in ((x1, y1), (x2, y2)):
        gap_px = np.min(np.hypot((cols + 0.5) * ds - x, (rows + 0.5) * ds - y))
        assert gap_px * TUMOUR.mpp < 0.1 * axis


def test_boxes_sit_on_dark_haematoxylin_objects(tumour_slide):
    midog = json.loads(tumour_slide.files.midog.read_text())
    tissue_h = []
    centre_h = []
    for ann in midog["annotations"]:
        x1, y1, x2, y2 = ann["bbox"]
        conc = render_concentrations(TUMOUR, x1, y1, x2 - x1, y2 - y1)[..., 0]
        assert conc.shape == (50, 50)
        centre_h.append(conc[17:33, 17:33].mean())
    for cx, cy in cells_in_region(TUMOUR, 0, 0, TUMOUR.width, TUMOUR.height)["fibroblast"][:50]:
        tissue_h.append(render_concentrations(TUMOUR, int(cx) - 25, int(cy) - 25, 50, 50)[..., 0].mean())
    assert min(centre_h) > 0.5
    assert np.mean(centre_h) > 3 * np.mean(tissue_h)


def test_tumour_mask_agrees_with_tumour_nuclei(tumour_slide):
    t = _truth(tumour_slide)
    ds = t["masks"]["tumour"]["downsample"]
    tumour = np.asarray(Image.open(tumour_slide.files.tumour_mask)) > 0
    nuclei = cells_in_region(TUMOUR, 0, 0, TUMOUR.width, TUMOUR.height)["tumour"]
    inside = tumour[(nuclei[:, 1] // ds).astype(int), (nuclei[:, 0] // ds).astype(int)]
    assert len(nuclei) > 50 and inside.mean() > 0.97


def test_normal_slide_has_no_tumour(normal_slide):
    t = _truth(normal_slide)
    assert t["label"] == "normal"
    assert t["tumour"]["major_axis_um"] == 0.0 and t["tumour"]["major_axis_endpoints_px"] == []
    assert t["tumour"]["outline"] is None
    assert not np.asarray(Image.open(normal_slide.files.tumour_mask)).any()
    assert np.asarray(Image.open(normal_slide.files.tissue_mask)).any()
    assert t["counts"]["mitoses_in_tumour"] == 0
    assert t["tiff"]["compression"] == "jpeg"


def test_same_arguments_give_the_same_bytes(tmp_path):
    cfg = SynthConfig(seed=21, width=1200, height=900, mitoses=3, imposters=3, scanner="D")
    a = generate_slide(cfg, tmp_path / "a")
    b = generate_slide(cfg, tmp_path / "b")
    for fa, fb in zip(a.files.all(), b.files.all(), strict=True):
        assert fa.read_bytes() == fb.read_bytes(), fa.name
    c = generate_slide(cfg.replace(scanner="B"), tmp_path / "c", options=TiffOptions(jpeg_quality=85))
    assert c.files.slide.read_bytes() != a.files.slide.read_bytes()
    assert c.files.midog.read_bytes() == a.files.midog.read_bytes()  # same cells, other colours
    assert c.files.tissue_mask.read_bytes() == a.files.tissue_mask.read_bytes()


def test_slide_files_naming(tmp_path):
    f = SlideFiles.for_name(tmp_path, "synth-000001")
    assert [p.name for p in f.all()] == [
        "synth-000001.tiff",
        "synth-000001.midog.json",
        "synth-000001.truth.json",
        "synth-000001.tumour-mask.png",
        "synth-000001.tissue-mask.png",
    ]
