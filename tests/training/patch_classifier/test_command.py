"""``python -m training patch-classifier`` then ``label-classifier``, end to end on small labelled slides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algorithm.classify import load_label_model
from algorithm.models import load_patch_classifier
from tests.training.usage import usage_error
from training.cli import main


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four 2048^2 tumour slides, two positive: a slide-labels.csv beside them."""
    folder = tmp_path_factory.mktemp("labelled")
    for seed, positive in ((500, "yes"), (502, "no")):
        common = ["--quiet", "synth", "--out", str(folder), "--count", "2", "--seed", str(seed), "--scanner", "A"]
        assert main([*common, "--size", "2048x2048", "--label", "tumour", "--positive", positive]) == 0
    labels = "".join(f"synth-000{seed},{int(seed < 502)}\n" for seed in range(500, 504))
    (folder / "slide-labels.csv").write_text("slide,label\n" + labels)
    return folder


@pytest.fixture(scope="module")
def run_dir(slides: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "patch-classifier"
    args = ["patch-classifier", "--slides", str(slides), "--labels", str(slides / "slide-labels.csv"), "--smoke"]
    model = ["--arch", "mobilenet_v3_small", "--tile-size", "128", "--scanner-augment", "0.5"]
    assert main(["--quiet", *args, "--out", str(out), *model]) == 0
    return out


def test_patch_classifier_writes_its_checkpoint_and_out_of_fold_probabilities(run_dir: Path, slides: Path) -> None:
    model, config, checkpoint = load_patch_classifier(run_dir / "best.pt")
    assert (config.arch, config.tile_size, config.mpp) == ("mobilenet_v3_small", 128, 1.0)
    assert checkpoint["patches"]["size"] == 128  # the filters it was trained with, for the container
    assert checkpoint["stain"] is not None
    oof = json.loads((run_dir / "oof-probabilities.json").read_text())
    assert sorted(oof) == sorted(p.stem for p in slides.glob("*.tiff"))
    assert {v["label"] for v in oof.values()} == {0, 1}
    assert all(len(v["probabilities"]) > 0 for v in oof.values())
    assert all(0.0 <= p <= 1.0 for v in oof.values() for p in v["probabilities"])
    report = json.loads((run_dir / "report.json").read_text())
    assert len(report["folds"]) == 2 and 0.0 <= report["oof_patch_accuracy"] <= 1.0


def test_label_classifier_is_fitted_and_scored_through_the_container_path(run_dir: Path, slides: Path) -> None:
    out = run_dir / "label_model.joblib"
    args = ["label-classifier", "--probabilities", str(run_dir / "oof-probabilities.json"), "--out", str(out)]
    test = ["--test-slides", str(slides), "--test-labels", str(slides / "slide-labels.csv")]
    assert main(["--quiet", *args, *test, "--patch-classifier", str(run_dir / "best.pt"), "--ranks", "4"]) == 0
    model = load_label_model(out)
    assert model.features.ranks == 4
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    assert report["threshold"]["chosen_by"] == "best F1 over cross-validated likelihoods"
    assert model.threshold == report["threshold"]["value"] and 0 < model.threshold < 1
    held = report["held_out"]
    assert held["slides"] == 4
    assert {"f1", "auc", "accuracy", "patch_accuracy"} <= set(held)
    assert all(0.0 <= r["likelihood"] <= 1.0 for r in held["per_slide"])


def test_test_options_come_together(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["label-classifier", "--probabilities", str(run_dir / "oof-probabilities.json"), "--out", "x.joblib"]
    assert main([*args, "--test-slides", "somewhere"]) == 1
    assert "give --test-slides, --test-labels and --patch-classifier together" in capsys.readouterr().err
    assert main([*args, "--valid-slides", "somewhere", "--valid-labels", "labels.csv"]) == 1
    assert "give --valid-slides, --valid-labels and --patch-classifier together" in capsys.readouterr().err


def test_validation_slides_choose_the_threshold(run_dir: Path, slides: Path, tmp_path: Path) -> None:
    out = tmp_path / "label_model.joblib"
    args = ["label-classifier", "--probabilities", str(run_dir / "oof-probabilities.json"), "--out", str(out)]
    valid = ["--valid-slides", str(slides), "--valid-labels", str(slides / "slide-labels.csv")]
    assert main(["--quiet", *args, *valid, "--patch-classifier", str(run_dir / "best.pt"), "--ranks", "4"]) == 0
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    assert report["threshold"]["chosen_by"] == "best F1 over the validation slides' likelihoods"
    validation = report["validation"]
    assert validation["slides"] == 4 and "held_out" not in report
    likelihoods = sorted(r["likelihood"] for r in validation["per_slide"])
    assert likelihoods[0] < load_label_model(out).threshold <= likelihoods[-1]  # between two slides' likelihoods
    assert all(r["positive"] == (r["likelihood"] >= report["threshold"]["value"]) for r in validation["per_slide"])


def test_a_given_threshold_is_kept(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "label_model.joblib"
    args = ["label-classifier", "--probabilities", str(run_dir / "oof-probabilities.json"), "--out", str(out)]
    assert main([*args, "--threshold", "0.3", "--ranks", "4"]) == 0
    assert load_label_model(out).threshold == 0.3
    assert "decision threshold 0.300 (given)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*args, "--threshold", "1.5"])
    assert "--threshold must be 'cv' or a likelihood in (0, 1), got '1.5'" in capsys.readouterr().err


def test_a_missing_slide_is_named(slides: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("slide,label\nsynth-000500,1\nnot-there,0\n")
    args = ["patch-classifier", "--slides", str(slides), "--labels", str(labels), "--out", str(tmp_path / "r")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "1 slides not found" in err and "not-there" in err


def test_domain_folds_hold_out_one_scanner_each() -> None:
    from algorithm.errors import ConfigError
    from training.datasets.labelled import LabelledSlide
    from training.patch_classifier.command import slide_folds

    slides = [LabelledSlide(Path(f"s{i}.tiff"), i % 2, "AB"[i // 3]) for i in range(6)]
    assert slide_folds(slides, "domain", seed=0).tolist() == [0, 0, 0, 1, 1, 1]
    assert sorted(slide_folds(slides, 3, seed=0).tolist()) == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ConfigError, match="two domains"):
        slide_folds(slides[:3], "domain", seed=0)


@pytest.mark.parametrize("folds", ["-2", "0", "1", "two"])
def test_folds_below_two_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], folds: str) -> None:
    """label-classifier is fitted on the out-of-fold probabilities: no folds, no oof-probabilities.json."""
    out = tmp_path / "run"
    argv = ["patch-classifier", "--slides", str(tmp_path), "--labels", str(tmp_path / "labels.csv"), "--out", str(out)]
    assert usage_error([*argv, "--folds", folds], capsys).startswith("argument --folds: a number of folds or 'domain'")
    assert not out.exists()


def test_slides_of_one_class_are_refused(slides: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "all-positive.csv"
    labels.write_text("slide,label\n" + "".join(f"{p.stem},1\n" for p in sorted(slides.glob("*.tiff"))))
    out = tmp_path / "run"
    assert main(["patch-classifier", "--slides", str(slides), "--labels", str(labels), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {labels}: all 4 slides are positive; the patch classifier learns to tell positive from negative "
        "slides and needs both"
    )
    assert not out.exists()


def test_no_patch_passing_the_filters_says_why(
    slides: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["patch-classifier", "--slides", str(slides), "--labels", str(slides / "slide-labels.csv"), "--smoke"]
    assert main(["--quiet", *args, "--out", str(out), "--mpp", "50", "--stain", "none"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no patch of the 4 slides passed the filters (296 px at 50 um/px: patches 14.8 mm")
    assert err.endswith("): check --mpp and --tile-size") and "\n" not in err
    assert not out.exists()
