from __future__ import annotations

import hashlib
import json

import numpy as np
import openslide
import pytest
import tifffile
from PIL import Image

from training.synth.config import SynthConfig
from training.synth.generate import SlideFiles, generate_slide, mask_downsample
from training.synth.pyramid import TiffOptions
from training.synth.render import cells_in_region, render_concentrations, render_region, render_region_with_nuclei
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


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_negative_slides_are_those_written_before_positive_existed(tmp_path):
    """Digests from the generator before ``positive`` (confounders on): level 0 with its nuclei truth, a
    mean-field level (downsample 16), every file of a slide (pixels decoded: independent of zlib)."""
    cfg = SynthConfig(seed=10, width=1100, height=900, label="tumour", mitoses=6, imposters=6, scanner="A")
    assert cfg == cfg.replace(positive=False)
    h = hashlib.sha256()
    for x, y, w, hh, d in ((300, 200, 512, 384, 1.0), (0, 0, 68, 56, 16.0)):  # the tumour at both
        h.update(render_region(cfg, x, y, w, hh, d).tobytes())
    h.update(np.packbits(render_region_with_nuclei(cfg, 300, 200, 512, 384)[1]).tobytes())
    result = generate_slide(cfg, tmp_path, options=TiffOptions(compression="deflate", tile=256, top_max=1024))
    with tifffile.TiffFile(result.files.slide) as tif:
        levels = [_sha(page.asarray().tobytes()) for page in tif.pages]
    f = result.files
    assert {
        "regions": h.hexdigest(),
        "levels": levels,
        "midog": _sha(f.midog.read_bytes()),
        "truth": _sha(f.truth.read_bytes()),
        "tumour": _sha(np.asarray(Image.open(f.tumour_mask)).tobytes()),
        "tissue": _sha(np.asarray(Image.open(f.tissue_mask)).tobytes()),
    } == {
        "regions": "7cbe310bf6e89907c9c825754ed85a8355653ffd3c95888ec6756d071aaccb8a",
        "levels": [
            "af9af1dd12ee66145298096cd939dc0383adc73df66bb757b8b27b7c672f915e",
            "f97d79b1124960818d74879291845e8b31840bf9b3d3d64240636d2a773b7d35",
        ],
        "midog": "0009fa8e2f2730c7cb519844aa9d705e68db59e0b1bdb52b23280e71badfdacb",
        "truth": "f8770dc1aa79839aa822fd36e2c942b40be9f508562cd2f55adf2eefa76fb065",
        "tumour": "f4c99a61cf1ace79d9610c30fbbde751dad658803b674adff1e86d40690021c0",
        "tissue": "8810cf1ea7e95841fbc510837e7d908a5d278495e823e0d3646ee184725875d7",
    }
    assert "positive" not in json.loads(f.truth.read_text()) and "positive" not in result.summary()


def test_positive_slides_are_deterministic_and_the_same_tissue(tmp_path):
    cfg = SynthConfig(seed=21, width=1200, height=900, label="tumour", mitoses=3, imposters=3, scanner="D")
    pos = cfg.replace(positive=True)
    a = generate_slide(pos, tmp_path / "a")
    b = generate_slide(pos, tmp_path / "b")
    for fa, fb in zip(a.files.all(), b.files.all(), strict=True):
        assert fa.read_bytes() == fb.read_bytes(), fa.name
    neg = generate_slide(cfg, tmp_path / "neg")
    assert a.files.slide.read_bytes() != neg.files.slide.read_bytes()
    for name in ("midog", "tumour_mask", "tissue_mask"):  # the same cells and regions
        assert getattr(a.files, name).read_bytes() == getattr(neg.files, name).read_bytes(), name
    truth = _truth(a)
    assert truth["positive"] is True and truth["config"]["positive"] is True and truth["label"] == "tumour"
    assert list(truth).index("positive") == list(truth).index("label") + 1
    assert ", positive," in a.summary() and "positive" not in neg.summary()
    assert "positive" not in _truth(neg) and "positive" not in _truth(neg)["config"]
