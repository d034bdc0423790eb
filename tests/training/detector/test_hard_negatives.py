"""Hard negatives: the model's own false positives on a small synthetic slide, pooled and sampled."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from algorithm.detection.slide import DetectionOptions, detect_slide, detection_grid
from algorithm.errors import ConfigError
from algorithm.models import DetectorConfig, build_detector
from algorithm.slide import open_slide
from algorithm.tissue import tissue_mask
from tests.conftest import blob_image, write_pyramid_tiff
from training.datasets import read_synthetic_folder
from training.datasets.annotations import MITOSIS, SlideAnnotations
from training.detector.hard_negatives import HardNegativeMiner, HardNegativePool, MiningConfig
from training.detector.sampler import PatchSampler, SamplingConfig

CONFIG = DetectorConfig(tile_size=128, mpp=0.5)


def _eager_detector() -> torch.nn.Module:
    """An untrained RetinaNet whose mitotic-figure logit is raised: it calls figures all over the tissue,
    with scores that still vary with the pixels (about 0.72 to 0.82)."""
    torch.manual_seed(0)
    model = build_detector(CONFIG).eval()
    with torch.no_grad():
        model.head.classification_head.cls_logits.bias[MITOSIS :: CONFIG.num_classes] = 1.0
    return model


@pytest.fixture(scope="module")
def slide(tmp_path_factory: pytest.TempPathFactory) -> SlideAnnotations:
    from training.synth import SynthConfig, generate_slide

    folder = tmp_path_factory.mktemp("hard-negatives")
    generate_slide(SynthConfig(width=640, height=640, seed=7, mitoses=3, imposters=3, scanner="A"), folder, name="s")
    (ann,) = read_synthetic_folder(folder)
    return ann


def _near(points: np.ndarray, others: np.ndarray, radius_px: float) -> np.ndarray:
    if not len(points) or not len(others):
        return np.zeros(len(points), bool)
    return (np.hypot(*(points[:, None, :] - others[None, :, :]).transpose(2, 0, 1)) <= radius_px).any(axis=1)


def test_miner_pools_the_calls_away_from_true_mitoses_and_never_a_true_one(slide: SlideAnnotations) -> None:
    model = _eager_detector()
    with open_slide(slide.slide_path) as reader:
        grid = detection_grid(reader, CONFIG, DetectionOptions(), tissue_mask(reader))
        found = detect_slide(reader, model, CONFIG, DetectionOptions(), "cpu", None, grid).candidates
    floor = 0.76
    calls = found.points[(found.labels == MITOSIS) & (found.scores >= floor)]
    assert len(calls) > 20
    # Declare three of the model's own calls (and the generator's figures) true mitoses: they and every
    # call within 7.5 um (30 level-0 px at 0.25 um/px) of them are hits, never hard negatives.
    truth = np.concatenate([slide.mitoses, calls[[0, len(calls) // 2, -1]]])
    annotated = dataclasses.replace(
        slide,
        points=np.concatenate([truth, slide.imposters]),
        labels=np.array([1] * len(truth) + [2] * len(slide.imposters)),
    )
    near = _near(calls, truth, 30.0)
    assert near.sum() >= 3
    miner = HardNegativeMiner([annotated], CONFIG, MiningConfig(share=0.5, floor=floor, tiles=100, per_slide=1000))
    tiles, mined = miner.mine_slide(model, 0)
    points, scores = miner.pool.entries(0)
    assert tiles == len(grid) and mined == len(points) == len(calls) - near.sum()
    assert not _near(points, truth, 30.0).any()
    expected = calls[~near]
    assert sorted(map(tuple, points)) == sorted(map(tuple, expected))
    assert (scores >= floor).all() and (np.diff(scores) <= 0).all()  # highest first


def test_pool_is_bounded_and_deterministic(slide: SlideAnnotations) -> None:
    mining = MiningConfig(share=0.3, every=10, floor=0.5, slides=1, tiles=3, per_slide=7)
    pools = []
    for _ in range(2):
        miner = HardNegativeMiner([slide], CONFIG, mining, seed=4)
        record = miner.mine(_eager_detector(), step=10)
        assert record["tiles"] == 3 and record["slides"] == [0] and record["false_positives"] > 7
        assert record["pool"] == len(miner.pool) == 7
        pools.append(miner.pool.to_json())
        assert miner.state()["rounds"] == [record]
    assert pools[0] == pools[1]
    assert not miner.due(5, 100) and miner.due(10, 100) and not miner.due(100, 100)
    assert not HardNegativeMiner([slide], CONFIG, MiningConfig(share=0.0)).due(10, 100)


def test_pool_replaces_what_it_held_in_re_mined_tiles() -> None:
    pool = HardNegativePool(per_slide=3)
    pool.update(0, np.array([[0, 0, 100, 100]]), np.array([[10.0, 10.0], [50.0, 50.0]]), np.array([0.6, 0.9]))
    pool.update(0, np.array([[200, 0, 100, 100]]), np.array([[210.0, 5.0], [250.0, 5.0]]), np.array([0.7, 0.5]))
    points, scores = pool.entries(0)
    assert scores.tolist() == [0.9, 0.7, 0.6]  # capped at 3, highest first
    pool.update(0, np.array([[0, 0, 100, 100]]), np.zeros((0, 2)), np.zeros(0))  # the model learnt those
    points, scores = pool.entries(0)
    assert points.tolist() == [[210.0, 5.0]] and len(pool) == 1 and pool.slides() == [0]
    copy = HardNegativePool(1)
    copy.load_json(pool.to_json())
    assert copy.to_json() == pool.to_json() and copy.per_slide == 3


def test_mining_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="share must be in"):
        MiningConfig(share=1.5)
    with pytest.raises(ConfigError, match="every must be at least 1"):
        MiningConfig(every=0)


def _marked_slide(tmp_path: Path, name: str, domain: str) -> SlideAnnotations:
    """A blob slide with a pure green square at (500, 350) (level 0, 0.25 um/px)."""
    image = blob_image(1200, 800)
    image[340:361, 490:511] = (0, 255, 0)
    path = write_pyramid_tiff(tmp_path / name, image, mpp=0.25, tile=128)
    points, labels = np.array([(400.0, 300.0), (600.0, 500.0)]), np.array([1, 2])
    return SlideAnnotations(name, 1200, 800, points, labels, 50.0, domain, "train", path)


def test_sampler_centres_the_share_asked_for_on_pool_entries(tmp_path: Path) -> None:
    slides = [_marked_slide(tmp_path, "a.tiff", "A"), _marked_slide(tmp_path, "b.tiff", "A")]
    pool = HardNegativePool(per_slide=4)
    config = SamplingConfig(tile_size=64, mpp=0.5, mitosis_fraction=0.5, jitter=0.0, hard_negative_fraction=0.4)
    sampler = PatchSampler(slides, config, pool=pool)
    empty = [sampler.sample(np.random.default_rng(1)) for _ in range(3)]
    assert all(p.origin != "hard" for p in empty)  # nothing mined yet: the usual negatives
    pool.update(1, np.array([[0, 0, 1200, 800]]), np.array([[500.0, 350.0]]), np.array([0.8]))  # slide b only
    rng = np.random.default_rng(2)
    patches = [sampler.sample(rng) for _ in range(400)]
    negatives = [p for p in patches if p.origin != "mitosis"]
    hard = [p for p in negatives if p.origin == "hard"]
    assert 0.3 < len(hard) / len(negatives) < 0.5
    assert {p.slide for p in hard} == {1}  # slide a has none: its domain-mate's are drawn
    for p in hard:
        assert tuple(p.pixels[32, 32]) == (0, 255, 0)  # centred on the entry (no jitter)
    again = [sampler.sample(np.random.default_rng(2)) for _ in range(1)]
    assert np.array_equal(again[0].pixels, patches[0].pixels) and again[0].origin == patches[0].origin


def test_sampler_without_hard_negatives_draws_what_it_always_drew(tmp_path: Path) -> None:
    slides = [_marked_slide(tmp_path, "a.tiff", "A")]
    pool = HardNegativePool(per_slide=4)
    pool.update(0, np.array([[0, 0, 1200, 800]]), np.array([[500.0, 350.0]]), np.array([0.8]))
    config = SamplingConfig(tile_size=64, mpp=0.5)
    with_pool = PatchSampler(slides, config, pool=pool)
    without = PatchSampler(slides, config)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(20):
        p, q = with_pool.sample(a), without.sample(b)
        assert np.array_equal(p.pixels, q.pixels) and p.origin == q.origin != "hard"


def test_mining_through_another_scanners_optics_pools_other_calls_the_same_each_time(
    slide: SlideAnnotations,
) -> None:
    model = _eager_detector()

    def pooled(scanner: float) -> np.ndarray:
        mining = MiningConfig(share=0.5, floor=0.76, tiles=8, per_slide=1000, scanner=scanner)
        miner = HardNegativeMiner([slide], CONFIG, mining, seed=4)
        miner.mine_slide(model, 0)
        return miner.pool.entries(0)[0]

    stored, softer = pooled(0.0), pooled(1.0)
    assert len(softer) and not np.array_equal(stored, softer)  # the model called other places on blurred tiles
    assert np.array_equal(softer, pooled(1.0))  # seeded by the run, the round and the slide
    with pytest.raises(ConfigError, match="mining scanner augmentation must be a probability"):
        MiningConfig(scanner=1.5)
