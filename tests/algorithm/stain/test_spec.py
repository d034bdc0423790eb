"""The stain spec: what training saves in a checkpoint is what the job reads back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from algorithm.errors import ConfigError
from algorithm.models.checkpoint import read_checkpoint, save_checkpoint
from algorithm.stain import get_normaliser
from algorithm.stain.spec import SPEC_VERSION, StainSpec
from tests.conftest import REPO, blob_image


def _fitted(method: str = "macenko") -> StainSpec:
    return StainSpec.of(get_normaliser(method, statistics="tissue").fit(blob_image(300, 200, seed=2)))


def test_a_spec_survives_a_checkpoint_and_rebuilds_the_same_normaliser(tmp_path: Path) -> None:
    spec = _fitted()
    path = tmp_path / "m.pt"
    save_checkpoint(path, "detector", {}, torch.nn.Linear(1, 1), extra={"stain": spec})
    raw = torch.load(path, weights_only=True)["stain"]  # plain data on disk, no pickled objects
    assert raw["version"] == SPEC_VERSION and set(raw) == {"version", "method", "statistics", "target", "slide_target"}
    back = read_checkpoint(path, "detector")["stain"]
    assert isinstance(back, StainSpec) and back.statistics == "tissue"
    for a, b in zip(back.target, spec.target, strict=True):
        np.testing.assert_array_equal(a, b)
    tile = blob_image(64, 64, seed=9)
    original = get_normaliser("macenko", statistics="tissue").fit(blob_image(300, 200, seed=2))
    np.testing.assert_array_equal(back.normaliser().transform(tile), original.transform(tile))


def test_the_bundled_models_specs_read(tmp_path: Path) -> None:
    for kind in ("detector", "segmenter"):
        spec = read_checkpoint(REPO / "models" / f"{kind}.pt", kind)["stain"]
        assert isinstance(spec, StainSpec) and spec.method == "macenko" and spec.version == SPEC_VERSION


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"options": {}}, r"unknown key\(s\) \['options'\]"),
        ({"version": 2}, "stain spec version 2"),
        ({"target": None}, "no 'target'"),
        ({"target": [["a"]]}, "not numeric"),
    ],
)
def test_bad_specs_are_named(change: dict, message: str) -> None:
    data = {**_fitted().to_dict(), **change}
    with pytest.raises(ConfigError, match=rf"m\.pt: stain: .*{message}|m\.pt: stain: {message}"):
        StainSpec.from_dict(data, "m.pt: stain")


def test_a_spec_saved_before_versions_reads_and_drops_its_source() -> None:
    normaliser = get_normaliser("macenko").fit(blob_image(300, 200, seed=2))
    legacy = normaliser.fit_source(blob_image(200, 100, seed=4)).params()  # what older training saved
    assert "source" in legacy and "version" not in legacy
    spec = StainSpec.from_dict(legacy, "old.pt: stain")
    assert spec.version == SPEC_VERSION and spec.normaliser().source is None  # refitted per slide by the job
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['source'\]"):
        StainSpec.from_dict({**spec.to_dict(), "source": legacy["source"]}, "new.pt: stain")
