"""The detector's training and scoring commands, end to end on a synthetic slide."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from algorithm.models import load_detector
from algorithm.models.checkpoint import read_checkpoint
from tests.conftest import blob_image
from tests.training.usage import usage_error
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
    # one slide: every resample is that slide, the interval is the F1 itself
    for scores in (overall, report["domains"]["B"]):
        assert scores["f1_interval"] == pytest.approx([scores["f1"]] * 2)
    assert report["f1_interval"].startswith("95% bootstrap interval over slides")
    false_calls = report["false_calls_on"]  # per domain, by what they lie on (training/detector/mistake_kinds.py)
    assert set(false_calls) <= {"B"} and all(n > 0 for kinds in false_calls.values() for n in kinds.values())
    missed = report["missed"].get("B", {})  # by phase and place; a figure matched to a call is not missed
    phases = {m["phase"] for m in truth["mitoses"]}
    assert all(kind.split(", ")[0] in phases and kind.endswith(" tumour") for kind in missed)
    assert sum(missed.values()) <= overall["fn"]


def test_init_fine_tunes_from_a_checkpoint_with_its_config_and_stain_target(
    synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(synthetic_slide.files.slide.parent)
    first = tmp_path / "first"
    small = ["--fpn-channels", "32", "--tile-size", "128"]
    assert main(["detector", "--smoke", "--train", folder, "--out", str(first), *small]) == 0
    start = read_checkpoint(first / "best.pt", "detector")
    tuned = tmp_path / "tuned"
    # lr 0: the weights stay the starting checkpoint's (batch-norm statistics move); its config wins
    assert (
        main(
            [
                "detector",
                "--smoke",
                "--train",
                folder,
                "--out",
                str(tuned),
                "--init",
                str(first / "best.pt"),
                "--lr",
                "0",
            ]
        )
        == 0
    )
    assert f"fine-tuning {first / 'best.pt'} (resnet18, 128 px at 0.5 um/px)" in capsys.readouterr().out
    end = read_checkpoint(tuned / "best.pt", "detector")
    assert end["config"] == start["config"] and end["stain"].target[0].tolist() == start["stain"].target[0].tolist()
    weights = [k for k in start["state_dict"] if "running_" not in k and "num_batches" not in k]  # not BN's stats
    assert weights and all(torch.equal(end["state_dict"][k], start["state_dict"][k]) for k in weights)
    both = ["--init", str(first / "best.pt"), "--resume"]
    assert usage_error(["detector", "--train", folder, "--out", str(tuned), *both], capsys) == (
        "give --init (a fresh run from a checkpoint's weights) or --resume, not both"
    )
    assert main(["detector", "--train", folder, "--out", str(tuned), "--init", str(tmp_path / "none.pt")]) == 1
    assert "none.pt" in capsys.readouterr().err


def test_missing_data_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["detector", "--train", str(tmp_path / "nope"), "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope'}: slide folder not found"
    assert usage_error(["detector", "--out", str(tmp_path / "run")], capsys) == "give --train folders or --midog-db"


def test_hard_negative_and_density_options_reach_the_checkpoint(
    synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(synthetic_slide.files.slide.parent)
    out = tmp_path / "run"
    mine = ["--hard-negatives", "0.25", "--mine-every", "1", "--mine-tiles", "2", "--mine-floor", "0.2"]
    mine += ["--mine-scanner", "0.5"]
    assert main(["detector", "--smoke", "--train", folder, "--out", str(out), *mine, "--valid-density", "3"]) == 0
    checkpoint = read_checkpoint(out / "best.pt", "detector")
    hard = checkpoint["hard_negatives"]
    assert (hard["share"], hard["every"], hard["floor"], hard["tiles"], hard["scanner"]) == (0.25, 1, 0.2, 2, 0.5)
    assert [(r["step"], r["tiles"]) for r in hard["rounds"]] == [(1, 2)]  # smoke: 2 steps, none after the last
    assert checkpoint["validation"]["density_per_mm2"] == 3.0
    capsys.readouterr()
    hard_share = ["--hard-negatives", "2"]
    assert "hard-negative share must be in [0, 1], got 2.0" in usage_error(
        ["detector", "--train", folder, "--out", str(out), *hard_share], capsys
    )


@pytest.fixture()
def real_image(tmp_path: Path) -> Path:
    """A stand-in for a real H&E image with no mitosis labels (a PNG)."""
    path = tmp_path / "he.png"
    Image.fromarray(blob_image(300, 200)).save(path)
    return path


def test_confounder_and_real_negative_options_reach_the_checkpoint(
    synthetic_slide, real_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(synthetic_slide.files.slide.parent)
    out = tmp_path / "run"
    shares = ["--confounder-share", "0.3", "--real-negatives", str(real_image), "--real-share", "0.2"]
    assert main(["detector", "--smoke", "--train", folder, "--out", str(out), *shares]) == 0
    assert "negatives: 0.3 on the slides'" in capsys.readouterr().out
    checkpoint = read_checkpoint(out / "best.pt", "detector")
    sampling = checkpoint["sampling"]
    assert (sampling["hard_negative_fraction"], sampling["real_fraction"], sampling["confounder_fraction"]) == (
        0.3,
        0.2,
        0.3,
    )
    assert checkpoint["real_negatives"] == ["he.png"]
    assert len(list((out / "real-negatives").glob("he.*.tiff"))) == 1
    too_much = ["--confounder-share", "0.8"]  # with the default 0.3 hard negatives and 0.1 real
    assert "shares of the negative patches add up to 1.2, more than 1" in usage_error(
        ["detector", "--train", folder, "--out", str(out), *too_much, *shares[2:4]], capsys
    )


def test_pasted_figures_option_reaches_the_checkpoint_and_needs_real_images(
    synthetic_slide, real_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(synthetic_slide.files.slide.parent)
    out = tmp_path / "run"
    real = ["--real-negatives", str(real_image)]
    assert main(["detector", "--smoke", "--train", folder, "--out", str(out), *real, "--pasted-share", "0.4"]) == 0
    assert "positives: 0.4 pasted into real images (10 figures)" in capsys.readouterr().out
    assert read_checkpoint(out / "best.pt", "detector")["sampling"]["pasted_fraction"] == 0.4
    assert usage_error(["detector", "--train", folder, "--out", str(out), "--pasted-share", "0.4"], capsys) == (
        "--pasted-share needs --real-negatives: the real images the figures are pasted into"
    )


def test_real_figures_options_reach_the_checkpoint_and_need_real_images(
    synthetic_slide, real_image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(synthetic_slide.files.slide.parent)
    out = tmp_path / "run"
    stack = tmp_path / "crops.tiff"
    tifffile.imwrite(stack, np.stack([blob_image(400, 400, seed=k)[100:228, 100:228] for k in range(3)]))
    real = ["--real-negatives", str(real_image)]
    figures = ["--real-figures", str(stack), "--real-figure-pages", "1,3", "--real-figure-share", "0.3"]
    assert main(["detector", "--smoke", "--train", folder, "--out", str(out), *real, *figures]) == 0
    assert "positives: 0.3 real figures blended into real images (2; normalised pixels)" in capsys.readouterr().out
    checkpoint = read_checkpoint(out / "best.pt", "detector")
    assert checkpoint["sampling"]["real_figure_fraction"] == 0.3 and not checkpoint["sampling"]["real_figure_raw"]
    raw = tmp_path / "raw"
    warped = ["--real-figure-raw", "--real-figure-warp", "0.2"]
    assert main(["detector", "--smoke", "--train", folder, "--out", str(raw), *real, *figures, *warped]) == 0
    assert "(2; stored pixels, then normalised; turned and sized 0.8-1.2x)" in capsys.readouterr().out
    sampling = read_checkpoint(raw / "best.pt", "detector")["sampling"]
    assert sampling["real_figure_raw"] is True and sampling["real_figure_warp"] == 0.2
    assert checkpoint["sampling"]["real_figure_warp"] == 0.0
    command = ["detector", "--train", folder, "--out", str(out)]
    assert usage_error([*command, *real, "--real-figure-raw"], capsys) == "--real-figure-raw needs --real-figures"
    warp = [*command, *real, "--real-figure-warp", "0.2"]
    assert usage_error(warp, capsys) == "--real-figure-warp needs --real-figures"
    assert checkpoint["real_figures"] == ["crops.tiff page 1", "crops.tiff page 3"]
    assert usage_error([*command, *figures], capsys) == (
        "--real-figures needs --real-negatives: the real images the figures are blended into"
    )
    bad_pages = [*real, *figures[:2], "--real-figure-pages", "x"]
    assert "expected 1-based page numbers" in usage_error([*command, *bad_pages], capsys)


def test_scanner_augment_option_reaches_the_checkpoint(
    synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(synthetic_slide.files.slide.parent)
    out = tmp_path / "run"
    assert main(["detector", "--smoke", "--train", folder, "--out", str(out), "--scanner-augment", "0.5"]) == 0
    assert json.loads(read_checkpoint(out / "best.pt", "detector")["command"])["scanner_augment"] == 0.5
    augment = ["--scanner-augment", "2"]  # refused as it is typed: a usage error
    assert usage_error(["detector", "--smoke", "--train", folder, "--out", str(out), *augment], capsys) == (
        "argument --scanner-augment: a probability in [0, 1], got 2"
    )


def test_island_options_reach_the_checkpoint(
    synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(synthetic_slide.files.slide.parent)
    out = tmp_path / "run"
    islands = ["--island-share", "0.25", "--island-um", "30:60"]
    assert main(["detector", "--smoke", "--train", folder, "--out", str(out), *islands]) == 0
    assert "islands: 0.25 of the patches cut to 30-60 um of tissue in glass" in capsys.readouterr().out
    sampling = read_checkpoint(out / "best.pt", "detector")["sampling"]
    assert sampling["island_fraction"] == 0.25 and tuple(sampling["island_um"]) == (30.0, 60.0)
    assert usage_error(["detector", "--train", folder, "--out", str(out), "--island-um", "60:30"], capsys) == (
        "--island-um must be microns LO:HI with 0 < LO <= HI, or one side, got '60:30'"
    )


def test_detector_score_runs_the_checkpoints_views_or_those_asked_for(
    synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(synthetic_slide.files.slide.parent)
    out = tmp_path / "run"
    assert main(["detector", "--smoke", "--train", folder, "--out", str(out), "--views", "4"]) == 0
    assert load_detector(out / "best.pt")[1].views == 4
    capsys.readouterr()
    assert main(["detector-score", "--model", str(out / "best.pt"), "--slides", folder]) == 0
    four = json.loads(capsys.readouterr().out)
    assert four["views"] == 4
    assert main(["detector-score", "--model", str(out / "best.pt"), "--slides", folder, "--views", "1"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["views"] == 1
    assert one["overall"]["tp"] + one["overall"]["fn"] == four["overall"]["tp"] + four["overall"]["fn"]
    truth = json.loads(synthetic_slide.files.truth.read_text())
    assert four["overall"]["tp"] + four["overall"]["fn"] == len(truth["mitoses"])


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--epochs", "0", "argument --epochs: at least 1, got 0"),
        ("--iterations", "0", "argument --iterations: at least 1, got 0"),
        ("--batch-size", "0", "argument --batch-size: at least 1, got 0"),
        ("--batch-size", "-3", "argument --batch-size: at least 1, got -3"),
        ("--lr", "-1", "argument --lr: 0 or more, got -1"),
        ("--lr", "nan", "argument --lr: a finite number, got nan"),
        ("--device", "banana", "argument --device: unknown device 'banana'"),
        ("--tile-size", "7", "argument --tile-size: a multiple of 32 pixels of at least 64"),
        ("--valid-density", "-1", "argument --valid-density: 0 or more, got -1"),
    ],
)
def test_bad_training_values_are_usage_errors_before_any_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    out = tmp_path / "run"
    argv = ["detector", "--train", str(tmp_path / "nope"), "--out", str(out), option, value]
    assert usage_error(argv, capsys).startswith(message)  # the --train folder does not exist: nothing was read
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is usable here")
def test_cuda_without_a_gpu_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["detector", "--train", str(tmp_path), "--out", str(tmp_path / "run"), "--device", "cuda"])
    assert exc.value.code == 2
    assert "argument --device: device 'cuda' asked for, but CUDA is not available" in capsys.readouterr().err


def test_help_names_only_real_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["detector", "--help"])
    assert exc.value.code == 0
    assert "--valid-domains" not in capsys.readouterr().out


def test_a_missing_images_folder_is_named(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = shared_data / "midog" / "MIDOG.json"
    out = tmp_path / "run"
    assert (
        main(["detector", "--smoke", "--midog-db", str(db), "--images", str(tmp_path / "nope"), "--out", str(out)]) == 1
    )
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'nope'}: images folder not found (--images: the folder of the database's images)"
    assert not out.exists()


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--radius-um", "-1", "argument --radius-um: a number above 0, got -1"),
        ("--radius-um", "0", "argument --radius-um: a number above 0, got 0"),
        ("--density", "-3", "argument --density: 0 or more, got -3"),
        ("--crops-mpp", "0", "argument --crops-mpp: microns per pixel between"),
        ("--device", "banana", "argument --device: unknown device 'banana'"),
    ],
)
def test_bad_scoring_values_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    argv = ["detector-score", "--model", str(tmp_path / "none.pt"), "--slides", str(tmp_path), option, value]
    assert usage_error(argv, capsys).startswith(message)  # refused before the (missing) model is read


def test_score_outputs_that_are_folders_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for option in ("--out", "--gallery"):
        argv = ["detector-score", "--model", str(tmp_path / "none.pt"), "--slides", str(tmp_path)]
        argv += [option, str(tmp_path)]
        folder = f"{tmp_path} is a folder; give the name of a file to write"
        assert usage_error(argv, capsys) == f"argument {option}: {folder}"  # refused before any scoring
