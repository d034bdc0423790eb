from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from algorithm.models import DetectorConfig, load_detector
from algorithm.models.checkpoint import read_checkpoint
from tests.conftest import blob_image, write_pyramid_tiff
from training.datasets.annotations import SlideAnnotations
from training.detector.train import TrainOptions, train_detector


def _slide(tmp_path: Path) -> SlideAnnotations:
    image = blob_image(600, 400)
    image[190:210, 230:250] = (60, 20, 90)  # a dark "cell"
    path = write_pyramid_tiff(tmp_path / "s.tiff", image, mpp=0.5, tile=64)
    return SlideAnnotations("s.tiff", 600, 400, np.array([[240.0, 200.0]]), np.array([1]), 25.0, "A", "train", path)


def test_smoke_training_writes_checkpoints_and_resumes(tmp_path: Path) -> None:
    ann = _slide(tmp_path)
    config = DetectorConfig(tile_size=64, mpp=0.5)
    options = TrainOptions(epochs=1, iterations=2, batch_size=2, warmup=1, seed=0)
    out = tmp_path / "run"
    best = train_detector([ann], [ann], config, options, out, log=lambda _: None)
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
