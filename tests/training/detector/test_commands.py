"""The detector's training and scoring commands, end to end on a synthetic slide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algorithm.models.checkpoint import read_checkpoint
from training.cli import main


def test_smoke_training_then_scoring(synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = synthetic_slide.files.slide.parent
    out = tmp_path / "run"
    assert main(["detector", "--smoke", "--train", str(folder), "--valid", str(folder), "--out", str(out)]) == 0
    checkpoint = read_checkpoint(out / "best.pt", "detector")
    assert checkpoint["stain"].method == "macenko" and checkpoint["stain"].target[0].shape == (2, 3)
    assert json.loads(checkpoint["command"])["smoke"] is True
    capsys.readouterr()
    assert main(["detector-score", "--model", str(out / "best.pt"), "--slides", str(folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["radius_um"] == 7.5
    truth = json.loads(synthetic_slide.files.truth.read_text())
    overall = report["overall"]
    assert overall["tp"] + overall["fn"] == len(truth["mitoses"])
    assert set(report["domains"]) == {"B"}


def test_missing_data_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detector", "--train", str(tmp_path / "nope"), "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope'}: slide folder not found"
    assert main(["detector", "--out", str(tmp_path / "run")]) == 1
