"""Model soups: averaged weights, ingredients checked, the command end to end on a synthetic slide."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from algorithm.errors import ConfigError
from algorithm.models import DetectorConfig, build_detector, load_detector, save_checkpoint
from algorithm.stain import get_normaliser
from algorithm.stain.spec import StainSpec
from tests.conftest import blob_image
from training.cli import main
from training.detector.soup import average_state, read_ingredients

SMALL = DetectorConfig(tile_size=64, mpp=0.5, fpn_channels=32)


def checkpoint(path: Path, seed: int, config: DetectorConfig = SMALL, stain: StainSpec | None = None) -> Path:
    """A randomly initialised detector (``seed``) saved at ``path`` with a threshold and its own F1."""
    torch.manual_seed(seed)
    extra = {"threshold": 0.6, "stain": stain}
    save_checkpoint(path, "detector", config.to_dict(), build_detector(config), metrics={"f1": 0.5}, extra=extra)
    return path


def test_average_state_is_the_mean_of_floats_and_keeps_equal_counters() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "h": torch.tensor([1.0], dtype=torch.float16), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 5.0]), "h": torch.tensor([2.0], dtype=torch.float16), "n": torch.tensor(3)}
    soup = average_state([a, b])
    assert soup["w"].tolist() == [2.0, 3.5] and soup["w"].dtype == torch.float32
    assert soup["h"].tolist() == [1.5] and soup["h"].dtype == torch.float16
    assert soup["n"].item() == 3
    with pytest.raises(ConfigError, match="n differ"):
        average_state([a, {**b, "n": torch.tensor(4)}])
    counted = [{"bn.num_batches_tracked": torch.tensor(n)} for n in (700, 1300, 900)]
    assert average_state(counted)["bn.num_batches_tracked"].item() == 1300  # batch norm's counter: the largest


def test_ingredients_must_be_one_detector_with_one_stain_target(tmp_path: Path) -> None:
    a, b = checkpoint(tmp_path / "a.pt", 0), checkpoint(tmp_path / "b.pt", 1)
    ingredients = read_ingredients([a, b])
    assert [i.sha256 for i in ingredients] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)]
    with pytest.raises(ConfigError, match="at least two"):
        read_ingredients([a])
    wider = checkpoint(tmp_path / "wider.pt", 2, DetectorConfig(tile_size=64, mpp=0.5, fpn_channels=64))
    with pytest.raises(ConfigError, match=r"wider\.pt: another detector .*fpn_channels 32 against 64"):
        read_ingredients([a, wider])
    target = get_normaliser("macenko").fit(blob_image(200, 200))
    stained = checkpoint(tmp_path / "stained.pt", 3, stain=StainSpec.of(target))
    with pytest.raises(ConfigError, match=r"stained\.pt: trained to another stain target"):
        read_ingredients([a, stained])


def test_the_command_writes_the_mean_with_a_threshold_chosen_on_the_slides(
    synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = checkpoint(tmp_path / "a.pt", 0), checkpoint(tmp_path / "b.pt", 1)
    out = tmp_path / "soup" / "best.pt"
    folder = str(synthetic_slide.files.slide.parent)
    assert main(["detector-soup", "--models", str(a), str(b), "--valid", folder, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "soup of 2: F1 " in printed and str(out) in printed
    model, _, saved = load_detector(out)
    mean = average_state([load_detector(p)[0].state_dict() for p in (a, b)])
    assert all(torch.equal(v, mean[k]) for k, v in model.state_dict().items())
    assert [r["sha256"] for r in saved["soup"]] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)]
    assert saved["soup"][0]["file"] == str(a) and saved["soup"][0]["threshold"] == 0.6
    assert saved["validation"]["slides"] == 1
    assert saved["validation"]["mitoses"] == len(synthetic_slide.truth["mitoses"])
    assert saved["threshold"] in np.round(np.arange(0.1, 0.951, 0.05), 2).tolist() + [0.5]
    assert saved["metrics"]["threshold"] == saved["threshold"] and "B" in saved["metrics"]["domains"]


def test_a_soup_with_views_records_them_in_its_config(
    synthetic_slide, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = checkpoint(tmp_path / "a.pt", 0), checkpoint(tmp_path / "b.pt", 1)
    folder = str(synthetic_slide.files.slide.parent)
    plain, flipped = tmp_path / "plain.pt", tmp_path / "flipped.pt"
    assert main(["detector-soup", "--models", str(a), str(b), "--valid", folder, "--out", str(plain)]) == 0
    args = ["detector-soup", "--models", str(a), str(b), "--valid", folder, "--out", str(flipped), "--views", "4"]
    assert main(args) == 0
    assert "soup of 2 (4 views): F1 " in capsys.readouterr().out
    (model, config, saved), (_, plain_config, plain_saved) = load_detector(flipped), load_detector(plain)
    assert (config.views, plain_config.views) == (4, 1)
    assert config == dataclasses.replace(plain_config, views=4)  # the same detector otherwise
    mean = average_state([load_detector(p)[0].state_dict() for p in (a, b)])
    assert all(torch.equal(v, mean[k]) for k, v in model.state_dict().items())
    assert saved["validation"] == plain_saved["validation"]


def test_bad_input_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, out = checkpoint(tmp_path / "a.pt", 0), tmp_path / "soup.pt"
    missing = tmp_path / "missing.pt"
    assert main(["detector-soup", "--models", str(a), str(missing), "--valid", str(tmp_path), "--out", str(out)]) == 1
    assert "missing.pt: model checkpoint not found" in capsys.readouterr().err
    b = checkpoint(tmp_path / "b.pt", 1)
    assert main(["detector-soup", "--models", str(a), str(b), "--valid", str(tmp_path), "--out", str(out)]) == 1
    assert f"{tmp_path}: no *.midog.json annotation files" in capsys.readouterr().err
    assert not out.exists()
