"""``python -m training classifier`` end to end on small heatmap files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage.draw import ellipse

from algorithm.classify import load_slide_model
from algorithm.segmentation.files import write_heatmap_tiff
from algorithm.segmentation.heatmap import Heatmap
from tests.training.usage import usage_error
from training.cli import main
from training.datasets.tumour import write_labels_csv

MPP = 4.0  # um per heatmap pixel


def _heatmap(rng: np.random.Generator, semi_axis: int | None) -> Heatmap:
    """Tissue a large rectangle; low noise on it, and a high-probability ellipse on tumour slides."""
    tissue = np.zeros((96, 128), bool)
    tissue[6:90, 6:122] = True
    probability = np.where(tissue, rng.uniform(0.0, 0.15, tissue.shape), 0.0).astype(np.float32)
    if semi_axis is not None:
        rr, cc = ellipse(48, 64, semi_axis // 2, semi_axis, shape=tissue.shape, rotation=rng.uniform(-1, 1))
        probability[rr, cc] = rng.uniform(0.85, 1.0, len(rr))
    return Heatmap(probability, tissue, downsample=16.0, mpp=MPP)


def _heatmap_folder(folder: Path, seed: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    rows = []
    for i, semi_axis in enumerate([10, 14, 18, 24, 30, 36]):
        write_heatmap_tiff(folder / f"tumour{i}.heatmap.tiff", _heatmap(rng, semi_axis))
        rows.append((f"tumour{i}", 1, 2 * semi_axis * MPP))
        write_heatmap_tiff(folder / f"normal{i}.heatmap.tiff", _heatmap(rng, None))
        rows.append((f"normal{i}", 0, 0.0))
    write_labels_csv(folder / "labels.csv", rows)
    return folder


def test_trains_scores_held_out_and_writes_a_loadable_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train, test = _heatmap_folder(tmp_path / "train", 0), _heatmap_folder(tmp_path / "test", 1)
    out = tmp_path / "models" / "slide_model.joblib"
    out.parent.mkdir()
    code = main(
        [
            "classifier",
            "--heatmaps",
            str(train),
            "--labels",
            str(train / "labels.csv"),
            "--out",
            str(out),
            "--folds",
            "3",
            "--scales",
            "4,16",
            "--test-heatmaps",
            str(test),
            "--test-labels",
            str(test / "labels.csv"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert out.is_file()
    report = json.loads((out.parent / "slide_model.joblib.report.json").read_text())
    assert report["held_out"]["auc"] == 1.0 and report["held_out"]["slides"] == 12
    assert report["held_out"]["accuracy"] == 1.0
    assert report["classifier"]["folds"] == 3 and len(report["training_slides"]) == 12
    assert report["axis"]["slides"] == 6
    assert {s["slide"] for s in report["held_out"]["per_slide"]} == {
        f"{k}{i}" for k in ("tumour", "normal") for i in range(6)
    }
    model = load_slide_model(out)
    assert model.feature_names[0] == "s4_t0.2_major_axis_um" and "s64_max" not in model.feature_names
    assert model.axis_feature == report["axis"]["measured_feature"]
    assert model.report["held_out"]["auc"] == 1.0
    stdout = capsys.readouterr().out
    assert "12 slides (6 tumour)" in stdout and f"-> {out}" in stdout


def test_slide_without_heatmap_is_one_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "heatmaps"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_heatmap_tiff(folder / "a.heatmap.tiff", _heatmap(rng, 20))
    write_labels_csv(folder / "labels.csv", [("a", 1, 160.0), ("ghost", 0, 0.0)])
    out = tmp_path / "m.joblib"
    assert (
        main(["classifier", "--heatmaps", str(folder), "--labels", str(folder / "labels.csv"), "--out", str(out)]) == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "ghost.heatmap.tiff" in err
    assert not out.exists() and not list(tmp_path.glob("m.joblib*"))


def test_bad_label_names_the_csv_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("slide,label\na,1\nb,maybe\n")
    assert (
        main(["classifier", "--heatmaps", str(tmp_path), "--labels", str(labels), "--out", str(tmp_path / "m.joblib")])
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {labels}, line 3") and "'maybe'" in err


def test_option_combinations_and_lists_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = ["classifier", "--heatmaps", str(tmp_path), "--labels", str(tmp_path / "l.csv")]
    command += ["--out", str(tmp_path / "m.joblib")]
    assert usage_error([*command, "--test-heatmaps", str(tmp_path)], capsys) == (
        "give both --test-heatmaps and --test-labels, or neither"
    )
    assert usage_error([*command, "--scales", "4,x"], capsys) == (
        "--scales must be a comma-separated list of numbers, got '4,x'"
    )
    assert "feature scale 3" in usage_error([*command, "--scales", "3"], capsys)
    assert not (tmp_path / "m.joblib").exists()
