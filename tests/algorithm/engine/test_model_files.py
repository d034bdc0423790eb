from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from algorithm.engine import EngineOptions, load_exported, load_torchscript
from algorithm.errors import ConfigError
from algorithm.models import SegmenterConfig
from algorithm.segmentation import SegmentationOptions, segment_slide
from algorithm.slide import open_slide
from tests.conftest import blob_image, write_pyramid_tiff


class Redness(torch.nn.Module):
    """A participant's probability model: red minus blue, one logit map per tile, with a weight and a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.0))
        self.offset: torch.Tensor
        self.register_buffer("offset", torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, :1] - x[:, 2:3]) * self.scale + self.offset


@pytest.fixture()
def blob_slide(tmp_path: Path) -> Path:
    return write_pyramid_tiff(tmp_path / "s.tiff", blob_image(900, 700, seed=5), mpp=0.25, tile=64, compression="jpeg")


def _heatmap(slide_path: Path, module: torch.nn.Module) -> np.ndarray:
    config = SegmenterConfig(tile_size=64, mpp=1.0)
    options = SegmentationOptions(engine=EngineOptions(batch_size=5))  # a shorter last batch
    with open_slide(slide_path) as slide:
        heatmap = segment_slide(slide, module, config, options).heatmap
    assert heatmap.tissue.any()
    return heatmap.probability


def _exported(tmp_path: Path, dynamic: bool = True) -> Path:
    tiles = torch.rand(2, 3, 64, 64)
    shapes = {"x": {0: torch.export.Dim("batch")}} if dynamic else None
    path = tmp_path / ("redness.pt2" if dynamic else "fixed.pt2")
    torch.export.save(torch.export.export(Redness().eval(), (tiles,), dynamic_shapes=shapes), str(path))
    return path


def test_an_exported_program_plugs_into_the_heatmap_as_the_module_itself(tmp_path: Path, blob_slide: Path) -> None:
    module = load_exported(_exported(tmp_path))
    np.testing.assert_allclose(_heatmap(blob_slide, module), _heatmap(blob_slide, Redness()), atol=1e-6)


def test_an_exported_program_needs_a_dynamic_batch(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fixed\.pt2: the program was exported for batches of exactly 2 tiles .*Dim"):
        load_exported(_exported(tmp_path, dynamic=False))


def test_files_that_are_not_programs_say_what_they_are(tmp_path: Path, blob_slide: Path) -> None:
    scripted = tmp_path / "redness.ts"
    with warnings.catch_warnings():  # torch marks TorchScript deprecated
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(Redness()), str(scripted))
    weights = tmp_path / "weights.pt"
    torch.save(Redness().state_dict(), weights)
    cases = {
        scripted: r"a TorchScript file: load it with load_torchscript\)$",
        weights: r"a file torch\.save wrote, not a program",
        blob_slide: r"not a file torch\.export\.save wrote\)$",
        tmp_path / "absent.pt2": r"file not found\)$",
    }
    for path, why in cases.items():
        with pytest.raises(ConfigError, match=rf"{path.name}: not a torch\.export program file \({why}"):
            load_exported(path)
    with pytest.raises(ConfigError, match=r"^unknown device 'gpu'"):
        load_exported(_exported(tmp_path), device="gpu")


def test_a_torchscript_probability_model_plugs_into_the_heatmap(tmp_path: Path, blob_slide: Path) -> None:
    path = tmp_path / "redness.pt"
    with warnings.catch_warnings():  # torch marks TorchScript deprecated
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(Redness()), str(path))
    tissue = _heatmap(blob_slide, load_torchscript(path))
    np.testing.assert_allclose(tissue, _heatmap(blob_slide, Redness()), atol=1e-6)
    with pytest.raises(ConfigError, match=r"not a TorchScript model file \(not a file torch\.jit\.save wrote\)$"):
        load_torchscript(blob_slide)
    weights = tmp_path / "weights.pt"
    torch.save(Redness().state_dict(), weights)
    with pytest.raises(ConfigError, match=r"weights\.pt: not a TorchScript model file \(a file torch\.save wrote, not"):
        load_torchscript(weights)
    with pytest.raises(ConfigError, match=r"absent\.pt: not a TorchScript model file \(file not found\)$"):
        load_torchscript(tmp_path / "absent.pt")
