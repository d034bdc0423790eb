from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.slide import open_slide
from tests.conftest import blob_image, write_pyramid_tiff
from training.datasets.annotations import SlideAnnotations
from training.datasets.real_negatives import read_real_negatives
from training.detector.sampler import Patch, PatchSampler, SamplingConfig, augment


def _slide(tmp_path: Path, name: str, domain: str, mitoses: list[tuple[float, float]]) -> SlideAnnotations:
    path = write_pyramid_tiff(tmp_path / name, blob_image(1200, 800), mpp=0.25, tile=128)
    points = np.array(mitoses + [(600.0, 400.0)], float)
    labels = np.array([1] * len(mitoses) + [2])
    return SlideAnnotations(name, 1200, 800, points, labels, 50.0, domain, "train", path)


def test_patches_centre_on_mitoses_with_boxes_in_patch_pixels(tmp_path: Path) -> None:
    ann = _slide(tmp_path, "a.tiff", "A", [(400.0, 300.0)])
    sampler = PatchSampler([ann], SamplingConfig(tile_size=128, mpp=0.5, mitosis_fraction=1.0, jitter=0.2))
    patch = sampler.sample(np.random.default_rng(0))
    assert patch.pixels.shape == (128, 128, 3)
    assert 1 in patch.labels.tolist()
    box = patch.boxes[patch.labels.tolist().index(1)]
    assert box[2] - box[0] == pytest.approx(25.0)  # 50 px at 0.25 um/px, seen at 0.5 um/px
    centre = (box[:2] + box[2:]) / 2
    assert np.all(np.abs(centre - 64) <= 0.2 * 128 + 1)


def test_random_patches_fall_on_tissue_and_domains_balance(tmp_path: Path) -> None:
    slides = [_slide(tmp_path, f"a{i}.tiff", "A", [(400.0, 300.0)]) for i in range(3)]
    slides.append(_slide(tmp_path, "b.tiff", "B", [(500.0, 300.0)]))
    sampler = PatchSampler(slides, SamplingConfig(tile_size=64, mpp=0.5, mitosis_fraction=0.0, imposter_fraction=0.0))
    rng = np.random.default_rng(1)
    patches = [sampler.sample(rng) for _ in range(200)]
    stained = [(p.pixels.min(axis=-1) < 220).mean() for p in patches]
    assert np.median(stained) > 0.5
    share_b = np.mean([p.domain == "B" for p in patches])
    assert 0.4 < share_b < 0.6  # one B slide against three A slides, drawn half the time


def test_same_seed_same_patches(tmp_path: Path) -> None:
    ann = _slide(tmp_path, "a.tiff", "A", [(400.0, 300.0)])
    sampler = PatchSampler([ann], SamplingConfig(tile_size=64, mpp=0.5))
    a = [sampler.sample(np.random.default_rng(5)).pixels for _ in range(2)]
    assert np.array_equal(a[0], a[1])


def test_augment_moves_boxes_with_pixels() -> None:
    pixels = np.zeros((32, 32, 3), np.uint8)
    pixels[2:6, 20:30] = 255
    patch = Patch(pixels, np.array([[20, 2, 30, 6]], np.float32), np.array([1]), 0, None)
    for seed in range(8):
        out = augment(patch, np.random.default_rng(seed))
        x1, y1, x2, y2 = out.boxes[0].astype(int)
        assert (out.pixels[y1:y2, x1:x2] == 255).all()
        assert out.pixels.sum() == pixels.sum()


def test_transform_factory_is_applied_once_per_slide(tmp_path: Path) -> None:
    ann = _slide(tmp_path, "a.tiff", "A", [(400.0, 300.0)])
    built = []

    def factory(reader):
        built.append(reader.path)
        return lambda px: 255 - px

    sampler = PatchSampler([ann], SamplingConfig(tile_size=64, mpp=0.5), factory)
    rng = np.random.default_rng(2)
    p = sampler.sample(rng)
    sampler.sample(rng)
    assert len(built) == 1
    with open_slide(ann.slide_path) as s:
        assert s.mpp == (0.25, 0.25)
    assert p.pixels.dtype == np.uint8


def _with_confounders(ann: SlideAnnotations, centres: list[tuple[float, float]]) -> SlideAnnotations:
    ann.confounders = np.array(centres, float)
    return ann


def test_the_confounder_share_of_negatives_centres_on_confounders(tmp_path: Path) -> None:
    centres = [(300.0, 250.0), (800.0, 500.0)]
    ann = _with_confounders(_slide(tmp_path, "a.tiff", "A", [(400.0, 300.0)]), centres)
    config = SamplingConfig(tile_size=32, mpp=0.5, mitosis_fraction=0.5, jitter=0.0, confounder_fraction=0.4)
    sampler = PatchSampler([ann], config)
    rng = np.random.default_rng(3)
    patches = [sampler.sample(rng) for _ in range(600)]
    negatives = [p for p in patches if p.origin != "mitosis"]
    on_confounders = [p for p in negatives if p.origin == "confounder"]
    assert 0.33 < len(on_confounders) / len(negatives) < 0.47  # 0.4 of about 300 negatives
    # jitter 0: the patch is the confounder's neighbourhood, and a confounder is no box
    with open_slide(ann.slide_path) as slide:
        views = [slide.read_extent((int(x) - 32, int(y) - 32), (64, 64), (32, 32)) for x, y in centres]
    assert all(any(np.array_equal(p.pixels, v) for v in views) for p in on_confounders)
    assert all(len(p.labels) == 0 for p in on_confounders)  # no annotated cell within 32 px of either


def test_without_confounders_the_share_falls_back_to_other_negatives(tmp_path: Path) -> None:
    ann = _slide(tmp_path, "a.tiff", "A", [(400.0, 300.0)])
    sampler = PatchSampler([ann], SamplingConfig(tile_size=32, mpp=0.5, mitosis_fraction=0.0, confounder_fraction=1.0))
    rng = np.random.default_rng(0)
    assert {sampler.sample(rng).origin for _ in range(20)} <= {"imposter", "tissue"}


def test_shares_off_draw_the_patches_of_before(tmp_path: Path) -> None:
    plain = _slide(tmp_path, "a.tiff", "A", [(400.0, 300.0)])
    config = SamplingConfig(tile_size=32, mpp=0.5)
    with_confounders = _with_confounders(_slide(tmp_path, "b.tiff", "A", [(400.0, 300.0)]), [(300.0, 250.0)])
    a, b = PatchSampler([plain], config), PatchSampler([with_confounders], config)
    ra, rb = np.random.default_rng(9), np.random.default_rng(9)
    for _ in range(30):
        pa, pb = a.sample(ra), b.sample(rb)
        assert pa.origin == pb.origin and np.array_equal(pa.pixels, pb.pixels)


def test_shares_are_checked() -> None:
    with pytest.raises(ConfigError, match="the confounder share must be in"):
        SamplingConfig(confounder_fraction=1.5)
    with pytest.raises(ConfigError, match="add up to 1.2, more than 1"):
        SamplingConfig(hard_negative_fraction=0.6, real_fraction=0.1, confounder_fraction=0.5)


def test_real_negatives_come_from_the_real_images_with_no_boxes(tmp_path: Path) -> None:
    ann = _slide(tmp_path, "a.tiff", "A", [(400.0, 300.0)])
    real_image = np.full((300, 400, 3), (90, 160, 110), np.uint8)  # green: no synthetic slide looks like it
    Image.fromarray(real_image).save(tmp_path / "real.png")
    real = read_real_negatives([tmp_path / "real.png"], 0.25, tmp_path / "work")
    built: list[Path] = []

    def factory(reader):
        built.append(reader.path)
        return lambda px: px

    config = SamplingConfig(tile_size=32, mpp=0.5, mitosis_fraction=0.5, real_fraction=0.5)
    sampler = PatchSampler([ann], config, factory, real=real)
    rng = np.random.default_rng(4)
    patches = [sampler.sample(rng) for _ in range(300)]
    from_real = [p for p in patches if p.origin == "real"]
    negatives = [p for p in patches if p.origin != "mitosis"]
    assert 0.4 < len(from_real) / len(negatives) < 0.6
    for p in from_real:
        assert p.boxes.shape == (0, 4) and p.labels.shape == (0,) and p.domain == "real"
        assert p.pixels.shape == (32, 32, 3) and (p.pixels == (90, 160, 110)).all()  # inside the real image
    assert not any((p.pixels == (90, 160, 110)).all(axis=-1).any() for p in patches if p.origin != "real")
    assert sorted(built) == sorted([ann.slide_path, real[0].slide_path])  # normalised like the slides, once each
    sampler.close()


def test_islands_keep_the_centred_cell_in_a_square_of_tissue_with_glass_around(tmp_path: Path) -> None:
    from training.detector.sampler import GLASS

    ann = _slide(tmp_path, "a.tiff", "A", [(400.0, 300.0), (700.0, 500.0)])
    config = SamplingConfig(tile_size=128, mpp=0.5, mitosis_fraction=1.0, jitter=0.3, island_fraction=1.0)
    sampler = PatchSampler([ann], dataclasses.replace(config, island_um=(20.0, 20.0)))  # 40 patch px
    plain = PatchSampler([ann], dataclasses.replace(config, island_fraction=0.0))
    rng = np.random.default_rng(3)
    for _ in range(20):
        patch = sampler.sample(rng)
        assert patch.island and patch.focus is not None
        tissue = np.argwhere((patch.pixels != GLASS).any(axis=-1))
        (y0, x0), (y1, x1) = tissue.min(axis=0), tissue.max(axis=0) + 1
        assert y1 - y0 <= 40 and x1 - x0 <= 40  # one square island; glass everywhere else
        assert x0 <= patch.focus[0] < x0 + 40 and y0 <= patch.focus[1] < y0 + 40
        assert len(patch.boxes) >= 1 and patch.labels.tolist().count(1) >= 1  # its mitosis kept, boxed
        centres = (patch.boxes[:, :2] + patch.boxes[:, 2:]) / 2
        assert np.all((centres >= np.array([x0, y0]) - 1e-3) & (centres <= np.array([x0 + 40, y0 + 40])))
    # the patch it was cut from: the same pixels inside the island
    a, b = sampler.sample(np.random.default_rng(7)), plain.sample(np.random.default_rng(7))
    inside = (a.pixels != GLASS).any(axis=-1)
    assert np.array_equal(a.pixels[inside], b.pixels[inside]) and not b.island


def test_island_drops_the_boxes_outside_it() -> None:
    from training.detector.sampler import island

    pixels = np.full((64, 64, 3), 100, np.uint8)
    boxes = np.array([[20, 20, 30, 30], [50, 50, 60, 60]], np.float32)  # centres (25, 25) and (55, 55)
    patch = Patch(pixels, boxes, np.array([1, 2]), 0, None, focus=(25.0, 25.0))
    cut = island(patch, 16, np.random.default_rng(0))
    assert cut.labels.tolist() == [1] and cut.boxes.shape == (1, 4)
    assert (cut.pixels == 100).all(axis=-1).sum() == 16 * 16


def test_island_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="the island share must be in"):
        SamplingConfig(island_fraction=2.0)
    with pytest.raises(ConfigError, match="side range"):
        SamplingConfig(island_um=(50.0, 20.0))
