"""``python -m training nuclei`` end to end on crops of real MoNuSeg images, and its fold split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.models import load_nuclei_segmenter
from tests.training.usage import usage_error
from training.cli import main
from training.nuclei.command import fold_of
from training.nuclei.data import NucleiPair, read_mask


@pytest.fixture(scope="module")
def monuseg_crops(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three real images and masks, cropped to 512 x 512 (PNG images, JPEG-like 0/255 masks)."""
    source = shared_data / "nuclei" / "monuseg"
    root = tmp_path_factory.mktemp("monuseg")
    images, masks = root / "images", root / "masks"
    images.mkdir()
    masks.mkdir()
    for path in sorted((source / "images").iterdir())[:3]:
        Image.open(path).crop((200, 200, 712, 712)).save(images / f"{path.stem}.png")
        Image.open(source / "masks" / path.name).convert("L").crop((200, 200, 712, 712)).save(
            masks / f"{path.stem}.png"
        )
    return images, masks


def test_every_image_is_scored_once_by_a_model_that_never_saw_it(
    monuseg_crops: tuple[Path, Path], tmp_path: Path
) -> None:
    images, masks = monuseg_crops
    out = tmp_path / "run"
    argv = ["nuclei", "--images", str(images), "--masks", str(masks), "--folds", "3", "--fold", "all"]
    assert main([*argv, "--out", str(out), "--smoke", "--image-mpp", "0.25"]) == 0
    report = json.loads((out / "report.json").read_text())
    names = sorted(p.stem for p in images.iterdir())
    assert sorted(r["image"] for r in report["images"]) == names
    for fold in range(3):
        model, config, checkpoint = load_nuclei_segmenter(out / f"fold-{fold}" / "model.pt")
        held = json.loads((out / f"fold-{fold}" / "scores.json").read_text())["images"]
        assert len(held) == 1
        assert held[0]["image"] not in checkpoint["training_images"]
        assert len(checkpoint["training_images"]) == 2
        assert config.mpp == 0.5 and checkpoint["stain"] is not None
    pooled = report["pooled"]
    tp = sum(r["tp"] for r in report["images"])
    assert pooled["tp"] == tp
    assert pooled["iou"] == pytest.approx(tp / (tp + pooled["fp"] + pooled["fn"]), abs=1e-4)
    truth = sum(int(np.count_nonzero(read_mask(masks / f"{n}.png"))) for n in names)
    assert pooled["tp"] + pooled["fn"] == truth  # scored on the images' own grid, every truth pixel counted


def test_a_trained_fold_is_scored_not_trained_again(monuseg_crops: tuple[Path, Path], tmp_path: Path) -> None:
    images, masks = monuseg_crops
    out = tmp_path / "run"
    argv = ["nuclei", "--images", str(images), "--masks", str(masks), "--folds", "3", "--fold", "1"]
    assert main([*argv, "--out", str(out), "--steps", "2", "--batch-size", "2", "--crop", "64"]) == 0
    model = out / "fold-1" / "model.pt"
    before = model.read_bytes()
    first = (out / "fold-1" / "scores.json").read_text()
    assert main([*argv, "--out", str(out), "--steps", "2", "--batch-size", "2", "--crop", "64"]) == 0
    assert model.read_bytes() == before
    assert (out / "fold-1" / "scores.json").read_text() == first  # the same model scores the same


def test_folds_deal_every_image_out_once() -> None:
    pairs = [NucleiPair(f"i{k}", Path(f"i{k}.png"), Path(f"m{k}.png")) for k in range(10)]
    assigned = fold_of(pairs, 5, seed=0)
    assert sorted(assigned.count(f) for f in range(5)) == [2] * 5
    assert fold_of(pairs, 5, seed=0) == assigned
    assert fold_of(pairs, 5, seed=1) != assigned
    with pytest.raises(ConfigError, match="folds"):
        fold_of(pairs, 11, seed=0)


def test_bad_folders_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    argv = ["nuclei", "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks")]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no image with a mask" in err[0] and str(tmp_path / "images") in err[0]
    assert not (tmp_path / "out").exists()


def test_added_synthetic_slides_train_in_every_fold_and_are_never_scored(
    monuseg_crops: tuple[Path, Path], tmp_path: Path
) -> None:
    from training.synth import SynthConfig, generate_slide

    synthetic = tmp_path / "synthetic"
    generate_slide(
        SynthConfig(seed=3, width=768, height=768, mitoses=2, imposters=2), synthetic, name="synth-3", nuclei_mask=True
    )
    images, masks = monuseg_crops
    out = tmp_path / "run"
    argv = ["nuclei", "--images", str(images), "--masks", str(masks), "--folds", "3", "--fold", "all"]
    assert main([*argv, "--add", str(synthetic), "--out", str(out), "--smoke", "--image-mpp", "0.25"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert "synth-3" not in {r["image"] for r in report["images"]}
    for fold in range(3):
        _, _, checkpoint = load_nuclei_segmenter(out / f"fold-{fold}" / "model.pt")
        assert checkpoint["training_images"][-1] == "synth-3"


def test_score_a_checkpoint_on_the_images_it_never_saw(monuseg_crops: tuple[Path, Path], tmp_path: Path) -> None:
    images, masks = monuseg_crops
    argv = ["nuclei", "--images", str(images), "--masks", str(masks), "--folds", "3", "--fold", "2"]
    assert main([*argv, "--out", str(tmp_path / "run"), "--smoke", "--image-mpp", "0.25"]) == 0
    model = tmp_path / "run" / "fold-2" / "model.pt"
    assert main([*argv, "--score", str(model), "--out", str(tmp_path / "scored")]) == 0
    scored = json.loads((tmp_path / "scored" / "scores.json").read_text())
    fold = json.loads((tmp_path / "run" / "fold-2" / "scores.json").read_text())
    assert scored["images"] == fold["images"]  # the same held-out image, the same figures


def test_fold_none_trains_one_model_on_every_image_and_scores_none(
    monuseg_crops: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, masks = monuseg_crops
    out = tmp_path / "run"
    argv = ["nuclei", "--images", str(images), "--masks", str(masks), "--folds", "3", "--fold", "none"]
    assert main([*argv, "--out", str(out), "--smoke", "--image-mpp", "0.25"]) == 0
    _, _, checkpoint = load_nuclei_segmenter(out / "all" / "model.pt")
    assert sorted(checkpoint["training_images"]) == sorted(p.stem for p in images.iterdir())
    assert checkpoint["fold"] is None
    assert not (out / "all" / "scores.json").exists() and not (out / "report.json").exists()
    assert "none left to score" in capsys.readouterr().out
    # such a model has no image left to be scored on: one line naming it
    assert main([*argv, "--score", str(out / "all" / "model.pt"), "--out", str(tmp_path / "scored")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing left to score" in err[0] and "model.pt" in err[0]


def test_a_fold_that_is_not_a_number_all_or_none_is_refused(
    monuseg_crops: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, masks = monuseg_crops
    argv = ["nuclei", "--images", str(images), "--masks", str(masks), "--fold", "some"]
    assert usage_error([*argv, "--out", str(tmp_path / "run"), "--smoke"], capsys) == (  # as it is typed
        "--fold 'some': a number below --folds, 'all' or 'none'"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (["--steps", "0"], "argument --steps: at least 1, got 0"),
        (["--batch-size", "0"], "argument --batch-size: at least 1, got 0"),
        (["--lr", "-1"], "argument --lr: 0 or more, got -1"),
        (["--lr", "nan"], "argument --lr: a finite number, got nan"),
        (["--folds", "1"], "argument --folds: at least 2"),
        (["--widths", "3,x"], "argument --widths: channels per level as whole numbers, e.g. 16,32,64,128, got '3,x'"),
        (["--widths", "16"], "argument --widths: two levels or more"),
        (["--device", "banana"], "argument --device: unknown device 'banana'"),
        (["--crop", "7"], "--crop 7: a U-Net of 4 levels (--widths) needs a multiple of 8 pixels of at least 16"),
        (["--crop", "8"], "--crop 8: a U-Net of 4 levels (--widths) needs a multiple of 8 pixels of at least 16"),
        (
            ["--crop", "41", "--widths", "8,16"],
            "--crop 41: a U-Net of 2 levels (--widths) needs a multiple of 2 pixels",
        ),
        (["--widths", "4,4,4,4,4,4,4,4", "--smoke"], "--smoke's crop 64: a U-Net of 8 levels (--widths) needs a"),
        (["--tile-size", "250"], "--tile-size 250: a U-Net of 4 levels (--widths) needs a multiple of 8 pixels"),
        (["--folds", "3", "--fold", "3"], "--fold 3: must be below --folds 3"),
    ],
)
def test_bad_values_are_usage_errors_before_any_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    out = tmp_path / "run"
    argv = ["nuclei", "--images", str(tmp_path / "none"), "--masks", str(tmp_path / "none"), "--out", str(out)]
    assert usage_error([*argv, *options], capsys).startswith(message)  # the folders do not exist: nothing was read
    assert not out.exists()


def test_an_image_without_its_mask_is_named(
    monuseg_crops: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, masks = monuseg_crops
    some = tmp_path / "masks"
    some.mkdir()
    first = sorted(masks.iterdir())[0]
    (some / first.name).write_bytes(first.read_bytes())  # one mask of three
    out = tmp_path / "run"
    assert main(["nuclei", "--images", str(images), "--masks", str(some), "--folds", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    unmasked = ", ".join(p.name for p in sorted(images.iterdir())[1:])
    assert err == [
        f"warning: {images}: 2 images have no mask in {some}, left out: {unmasked}",
        "error: --folds 2: more folds than the 1 images with a mask (each fold holds one image or more)",
    ]
    assert not out.exists()
