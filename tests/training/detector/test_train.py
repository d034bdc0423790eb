from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from algorithm.models import DetectorConfig, load_detector
from algorithm.models.checkpoint import read_checkpoint
from tests.conftest import blob_image, write_pyramid_tiff
from training.datasets.annotations import SlideAnnotations
from training.detector.hard_negatives import MiningConfig
from training.detector.train import TrainOptions, train_detector


def _slide(tmp_path: Path) -> SlideAnnotations:
    image = blob_image(600, 400)
    image[190:210, 230:250] = (60, 20, 90)  # a dark "cell"
    path = write_pyramid_tiff(tmp_path / "s.tiff", image, mpp=0.5, tile=64)
    return SlideAnnotations("s.tiff", 600, 400, np.array([[240.0, 200.0]]), np.array([1]), 25.0, "A", "train", path)


def test_smoke_training_writes_checkpoints_and_resumes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ann = _slide(tmp_path)
    config = DetectorConfig(tile_size=64, mpp=0.5)
    options = TrainOptions(epochs=1, iterations=2, batch_size=2, warmup=1, seed=0)
    out = tmp_path / "run"
    # resume asked for with nothing to resume from: said so, then trained from scratch
    best = train_detector([ann], [ann], config, options, out, resume=True, log=lambda _: None)
    assert f"--resume: no {out / 'last.pt'} to resume from; training from scratch" in caplog.messages
    assert {"f1", "precision", "recall", "threshold", "loss"} <= set(best)
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    model, loaded, _ = load_detector(out / "best.pt")
    assert loaded == config
    assert read_checkpoint(out / "best.pt", "detector")["threshold"] == best["threshold"]
    # resume: a second epoch continues from the first
    options2 = TrainOptions(epochs=2, iterations=2, batch_size=2, warmup=1, seed=0)
    logs: list[str] = []
    train_detector([ann], [ann], config, options2, out, resume=True, log=logs.append)
    assert logs[0].startswith("resumed from") and "after epoch 1" in logs[0]
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]


def test_training_is_deterministic(tmp_path: Path) -> None:
    ann = _slide(tmp_path)
    config = DetectorConfig(tile_size=64, mpp=0.5)
    options = TrainOptions(epochs=1, iterations=2, batch_size=2, warmup=1, seed=3)
    a = train_detector([ann], [], config, options, tmp_path / "a", log=lambda _: None)
    b = train_detector([ann], [], config, options, tmp_path / "b", log=lambda _: None)
    assert a["loss"] == b["loss"]


def test_without_validation_every_epoch_is_kept_and_the_last_is_best(tmp_path: Path) -> None:
    """No --valid: best.pt is each epoch in turn (the second used to fail on the first's missing F1)."""
    ann = _slide(tmp_path)
    options = TrainOptions(epochs=2, iterations=2, batch_size=2, warmup=1, seed=0)
    best = train_detector(
        [ann], [], DetectorConfig(tile_size=64, mpp=0.5), options, tmp_path / "run", log=lambda _: None
    )
    assert best["epoch"] == 2 and "f1" not in best
    assert read_checkpoint(tmp_path / "run" / "best.pt", "detector")["metrics"]["epoch"] == 2


def test_checkpoints_record_hard_negatives_and_validation_density(tmp_path: Path) -> None:
    ann = _slide(tmp_path)
    config = DetectorConfig(tile_size=64, mpp=0.5)
    options = TrainOptions(epochs=2, iterations=2, batch_size=2, warmup=1, seed=0, valid_density=4.0)
    mining = MiningConfig(share=0.5, every=1, floor=0.05, tiles=2)
    out = tmp_path / "run"
    logs: list[str] = []
    train_detector([ann], [ann], config, options, out, log=logs.append, mining=mining)
    last = read_checkpoint(out / "last.pt", "detector")
    hard = last["hard_negatives"]
    assert (hard["share"], hard["every"], hard["floor"], hard["tiles"]) == (0.5, 1, 0.05, 2)
    assert [r["step"] for r in hard["rounds"]] == [1, 2, 3]  # not after the last step
    assert all(r["slides"] == [0] and r["tiles"] == 2 and r["false_positives"] >= 0 for r in hard["rounds"])
    assert "hard_negative_pool" in last
    validation = read_checkpoint(out / "best.pt", "detector")["validation"]
    assert validation["density_per_mm2"] == 4.0 and validation["slides"] == 1 and validation["mitoses"] == 1
    assert validation["annotated_density_per_mm2"] == pytest.approx(1 / validation["tissue_mm2"])
    best = read_checkpoint(out / "best.pt", "detector")
    assert best["metrics"]["domains"]["A"]["slides"] == 1 and "hard_negatives" in best
    assert "f1[A]=" in logs[0] and "mined=" in logs[0]
    # resumed for a third epoch, the rounds carry on (step 4 was the first run's last: nothing mined there)
    train_detector([ann], [ann], config, dataclasses.replace(options, epochs=3), out, resume=True, mining=mining)
    rounds = read_checkpoint(out / "last.pt", "detector")["hard_negatives"]["rounds"]
    assert [r["step"] for r in rounds] == [1, 2, 3, 5]
