from __future__ import annotations

from pathlib import Path

import pytest
import torch

from algorithm.errors import ConfigError
from algorithm.models import DetectorConfig, build_detector, load_detector, save_checkpoint
from algorithm.models.checkpoint import read_checkpoint


def test_light_detector_trains_one_step_and_predicts() -> None:
    torch.manual_seed(0)
    config = DetectorConfig(tile_size=128)
    model = build_detector(config)
    images = [torch.rand(3, 128, 128)]
    targets = [{"boxes": torch.tensor([[40.0, 40.0, 65.0, 65.0]]), "labels": torch.tensor([1])}]
    losses = model(images, targets)
    assert set(losses) == {"classification", "bbox_regression"}
    sum(losses.values()).backward()
    model.eval()
    with torch.inference_mode():
        out = model(images)[0]
    assert set(out) == {"boxes", "scores", "labels"}


def test_config_round_trip() -> None:
    config = DetectorConfig(arch="resnet34", fpn_channels=32, stages=(2, 3, 4), anchor_sizes=(8, 16, 32, 64, 128))
    assert DetectorConfig.from_dict(config.to_dict()) == config
    assert DetectorConfig.from_dict({**config.to_dict(), "views": 4}).views == 4
    old = config.to_dict()
    del old["views"]  # a checkpoint from before test-time views: one view
    assert DetectorConfig.from_dict(old).views == 1


def test_bad_configs() -> None:
    with pytest.raises(ConfigError, match="unknown detector architecture"):
        build_detector(DetectorConfig(arch="vgg"))
    with pytest.raises(ConfigError, match="anchor sizes"):
        build_detector(DetectorConfig(anchor_sizes=(16, 32)))
    with pytest.raises(
        ConfigError, match=r"^x\.pt: config: views must be 1, 2 or 4 \(the tile and its mirror images\), got 3$"
    ):
        DetectorConfig.from_dict({**DetectorConfig().to_dict(), "views": 3}, source="x.pt: config")


def test_checkpoint_round_trip_half(tmp_path: Path) -> None:
    config = DetectorConfig(tile_size=128)
    model = build_detector(config).eval()
    path = tmp_path / "detector.pt"
    save_checkpoint(path, "detector", config.to_dict(), model, metrics={"f1": 0.5}, half=True)
    loaded, loaded_config, metadata = load_detector(path)
    assert loaded_config == config
    assert read_checkpoint(path, "detector")["metrics"] == metadata["metrics"] == {"f1": 0.5}
    x = [torch.rand(3, 128, 128)]
    with torch.inference_mode():
        a = model.backbone(torch.stack(x))["0"]
        b = loaded.backbone(torch.stack(x))["0"]
    assert torch.allclose(a, b, atol=0.05)


def test_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.pt: model checkpoint not found"):
        load_detector(tmp_path / "absent.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(
        ConfigError, match=r"^[^\n]*junk\.pt: not a readable model checkpoint \(not a file torch\.save wrote\)$"
    ):
        load_detector(junk)
    empty = tmp_path / "empty.pt"
    empty.touch()
    with pytest.raises(ConfigError, match=r"empty\.pt: not a readable model checkpoint \(the file is empty\)$"):
        load_detector(empty)
    pickled = tmp_path / "pickled.pt"  # a whole module pickled, not weights: never unpickled by the kit
    torch.save(build_detector(DetectorConfig(tile_size=128)), pickled)
    with pytest.raises(ConfigError, match=r"pickled\.pt: not a readable model checkpoint \(it holds Python objects"):
        load_detector(pickled)
    config = DetectorConfig(tile_size=128)
    other = tmp_path / "other.pt"
    save_checkpoint(other, "segmenter", config.to_dict(), build_detector(config))
    with pytest.raises(ConfigError, match="expected a 'detector'"):
        load_detector(other)
    mismatched = tmp_path / "mismatched.pt"
    save_checkpoint(mismatched, "detector", DetectorConfig(fpn_channels=32).to_dict(), build_detector(config))
    with pytest.raises(ConfigError, match=r"mismatched\.pt: weights do not fit"):
        load_detector(mismatched)
