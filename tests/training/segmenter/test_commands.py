"""The segmenter's training and heatmap commands, end to end on a synthetic slide."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.models.checkpoint import read_checkpoint
from algorithm.segmentation.files import read_heatmap_tiff
from tests.conftest import REPO
from tests.training.usage import usage_error
from training.cli import main
from training.datasets.tumour import read_labels_csv


def test_smoke_training_then_heatmaps(synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = synthetic_slide.files.slide.parent
    run = tmp_path / "run"
    assert (
        main(
            [
                "segmenter",
                "--smoke",
                "--train",
                str(folder),
                "--valid",
                str(folder),
                "--out",
                str(run),
                "--tile-size",
                "128",
                "--mpp",
                "4",
            ]
        )
        == 0
    )
    checkpoint = read_checkpoint(run / "best.pt", "segmenter")
    assert checkpoint["stain"].method == "macenko" and checkpoint["config"]["tile_size"] == 128
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 1 and 0.0 <= history[0]["iou"] <= 1.0
    report = json.loads((run / "report.json").read_text())
    assert report["best"]["epoch"] == 1 and report["validation"]["slides"][0]["label"] == 1
    capsys.readouterr()
    heatmaps = tmp_path / "heatmaps"
    assert main(["heatmaps", "--model", str(run / "best.pt"), "--slides", str(folder), "--out", str(heatmaps)]) == 0
    name = synthetic_slide.files.slide.stem
    heatmap = read_heatmap_tiff(heatmaps / f"{name}.heatmap.tiff")
    assert heatmap.mpp == pytest.approx(8.0) and heatmap.tissue.any()
    assert heatmap.probability.min() >= 0.0 and heatmap.probability.max() <= 1.0
    labels = read_labels_csv(heatmaps / "labels.csv")
    truth = json.loads(synthetic_slide.files.truth.read_text())
    assert labels[name][0] == 1
    assert labels[name][1] == pytest.approx(truth["tumour"]["major_axis_um"], abs=1e-3)
    report = json.loads((heatmaps / "heatmaps.json").read_text())
    assert report["slides"][0]["slide"] == name and np.isfinite(report["iou"])
    assert "pooled IoU" in capsys.readouterr().out


def test_slides_without_masks_are_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import blob_image, write_pyramid_tiff

    write_pyramid_tiff(tmp_path / "lonely.tiff", blob_image(200, 100), mpp=0.5)
    assert main(["segmenter", "--train", str(tmp_path), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path / 'lonely.tiff'}: no tumour mask in {tmp_path}")
    assert not (tmp_path / "run").exists()


def test_two_slides_of_one_name_are_refused_before_any_heatmap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each heatmap is named by its slide: x/a.tiff's was overwritten by y/a.tiff's, its row listed twice."""
    from tests.conftest import blob_image, write_pyramid_tiff

    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        write_pyramid_tiff(tmp_path / folder / "a.tiff", blob_image(200, 100), mpp=0.5)
        Image.fromarray(np.zeros((25, 50), np.uint8)).save(tmp_path / folder / "a.tumour-mask.png")
    args = ["heatmaps", "--model", str(REPO / "models" / "segmenter.pt"), "--out", str(tmp_path / "out")]
    assert main([*args, "--slides", str(tmp_path / "x"), str(tmp_path / "y")]) == 1
    line = capsys.readouterr().err.strip()
    assert line == (
        f"error: {tmp_path / 'y' / 'a.tiff'} and {tmp_path / 'x' / 'a.tiff'} have one name, 'a': one heatmap "
        "would replace the other; rename one of them"
    )
    assert not (tmp_path / "out").exists()


def test_folds_partition_the_slides_by_label(tmp_path: Path) -> None:
    from training.datasets.tumour import TumourSlide
    from training.folds import fold_split

    slides = []
    for i in range(10):
        mask = tmp_path / f"s{i}.png"
        Image.fromarray(np.full((4, 4), 255 if i < 4 else 0, np.uint8)).save(mask)
        slides.append(TumourSlide(tmp_path / f"s{i}.tiff", mask, 16, 16, 0.25))
    seen = []
    for fold in range(3):
        train, valid = fold_split(slides, 3, fold, seed=0)
        assert not {s.name for s in train} & {s.name for s in valid}
        assert any(s.label for s in valid) and any(not s.label for s in valid)  # each fold has both
        seen += [s.name for s in valid]
    assert sorted(seen) == sorted(s.name for s in slides)
    assert fold_split(slides, 3, 1, seed=0) == fold_split(slides, 3, 1, seed=0)
    with pytest.raises(ConfigError, match="--folds 1"):
        fold_split(slides, 1, 0, seed=0)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--epochs", "0"], "argument --epochs: at least 1, got 0"),
        (["--iterations", "0"], "argument --iterations: at least 1, got 0"),
        (["--batch-size", "0"], "argument --batch-size: at least 1, got 0"),
        (["--lr", "nan"], "argument --lr: a finite number, got nan"),
        (["--folds", "1"], "argument --folds: at least 2 (cross-validation holds out one fold"),
        (["--stain-augment", "-1"], "argument --stain-augment: 0 or more, got -1"),
    ],
)
def test_bad_values_are_usage_errors_before_any_slide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    out = tmp_path / "run"
    argv = ["segmenter", "--train", str(tmp_path / "none"), "--out", str(out), *options]
    assert usage_error(argv, capsys).startswith(message)  # the --train folder does not exist: nothing was read
    assert not out.exists()
