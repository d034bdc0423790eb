"""Program checkpoints: a participant's own network, of any architecture, run by the container's job."""

from __future__ import annotations

import io
import json
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from algorithm.detection.slide import slide_detections
from algorithm.errors import ConfigError
from algorithm.interface.tasks import HELP, MIDOG
from algorithm.job import JobOptions, run_job
from algorithm.models import load_detector, load_segmenter, save_program
from algorithm.models.checkpoint import read_checkpoint
from algorithm.slide import open_slide
from algorithm.tissue import tissue_mask
from algorithm.tumour import tumour_heatmap
from tests.algorithm.models.own_networks import Darkness, DarkSpots
from tests.conftest import REPO

SLIDE = REPO / "test" / "input" / "images" / "histopathology-roi-cropout" / "case-007100.tif"


def _scripted(module: nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 marks TorchScript deprecated
        return torch.jit.script(module)


def _exported(module: nn.Module, tile: int) -> torch.export.ExportedProgram:
    return torch.export.export(
        module.eval(), (torch.rand(2, 3, tile, tile),), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
    )


def test_a_scripted_detector_of_another_architecture_runs_in_the_job(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    save_program(folder / "detector.pt", "detector", _scripted(DarkSpots()), 128, 1.0, threshold=0.4)
    job = run_job(
        JobOptions(input=SLIDE, output=tmp_path / "out", task=MIDOG, model_dir=folder, device="cpu"),
        log=lambda _: None,
    )
    points = json.loads((tmp_path / "out" / "mitotic-figures.json").read_text())["points"]
    assert job.detections is not None and job.threshold == 0.4
    assert len(points) == len(job.detections.candidates.scores) > 0  # every candidate, with its probability
    # the same network in memory, through the library: the same calls
    with open_slide(SLIDE) as slide:
        config = load_detector(folder / "detector.pt")[1]
        direct = slide_detections(slide, tissue_mask(slide), DarkSpots(), config, None)
    np.testing.assert_array_equal(direct.candidates.points, job.detections.candidates.points)
    np.testing.assert_allclose(direct.candidates.scores, job.detections.candidates.scores, rtol=1e-6)


def test_an_exported_segmenter_of_another_architecture_gives_the_tumour_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    save_program(folder / "segmenter.pt", "segmenter", _exported(Darkness(), 64), 64, 2.0)
    shutil.copy(REPO / "models" / "slide_model.joblib", folder)
    job = run_job(
        JobOptions(input=SLIDE, output=tmp_path / "out", task=HELP, model_dir=folder, device="cpu"),
        log=lambda _: None,
    )
    assert job.tumour is not None
    assert (tmp_path / "out" / "tumour-likelihood.json").is_file()
    with open_slide(SLIDE) as slide:
        config = load_segmenter(folder / "segmenter.pt")[1]
        direct = tumour_heatmap(slide, tissue_mask(slide), Darkness(), config, None, torch.device("cpu"))
    found = job.tumour.heatmap.heatmap.probability
    np.testing.assert_allclose(direct.heatmap.probability, found, atol=1e-6)
    assert found.max() > 0.5 > found[job.tumour.heatmap.heatmap.tissue].min()


def test_the_bundled_detector_as_a_program_finds_what_its_checkpoint_finds(tmp_path: Path) -> None:
    model, config, checkpoint = load_detector(REPO / "models" / "detector.pt")
    folder = tmp_path / "model"
    folder.mkdir()
    save_program(
        folder / "detector.pt",
        "detector",
        _scripted(model),  # scripted, loaded back from bytes: decoded by the kit's BatchedRetinaNet again
        config.tile_size,
        config.mpp,
        stain=checkpoint["stain"],
        threshold=checkpoint["threshold"],
        views=config.views,
    )
    found = {}
    for name, where in (("checkpoint", REPO / "models"), ("program", folder)):
        job = run_job(
            JobOptions(input=SLIDE, output=tmp_path / name, task=MIDOG, model_dir=where, device="cpu", views=1),
            log=lambda _: None,
        )
        assert job.detections is not None
        found[name] = job.detections.candidates
    assert len(found["program"].scores) == len(found["checkpoint"].scores) > 10
    np.testing.assert_allclose(found["program"].points, found["checkpoint"].points, atol=1e-6)
    np.testing.assert_allclose(found["program"].scores, found["checkpoint"].scores, atol=1e-6)


def test_what_is_saved_is_what_loads(tmp_path: Path) -> None:
    path = tmp_path / "nuclei.pt"
    save_program(path, "nuclei", _exported(Darkness(), 64), 64, 0.5, threshold=0.3, metrics={"dice": 0.8})
    payload = read_checkpoint(path, "nuclei")
    assert payload["program_format"] == "export" and payload["threshold"] == 0.3
    assert payload["config"] == {"tile_size": 64, "mpp": 0.5, "widths": [1, 1]}  # no U-Net's constraints but evenness
    assert payload["metrics"] == {"dice": 0.8}
    assert payload["versions"]["torch"] == str(torch.__version__)


@pytest.mark.parametrize(
    "kind,program,settings,message",
    [
        ("tumour", None, {}, "kind must be one of detector, segmenter, nuclei, patch-classifier"),
        ("segmenter", None, {"views": 4}, "a segmenter program takes no setting views"),
        ("detector", None, {"views": 3}, "views"),
        ("segmenter", None, {"stain": {"method": "macenko"}}, "stain must be a fitted normaliser"),
        ("segmenter", nn.Conv2d(3, 1, 1), {}, "the network is a plain torch module (Conv2d)"),
        ("segmenter", "net.pt", {}, "must be TorchScript or a torch.export program, got str"),
        ("detector", "darkness", {}, "a detector program on a batch of (3, 3, 64, 64) random tiles: "),
        ("segmenter", "fixed", {}, "exported for batches of exactly 2 tiles"),
        ("segmenter", "fails", {}, "the segmenter program failed on a batch of (3, 3, 64, 64) random tiles: "),
    ],
)
def test_what_the_container_could_not_run_is_refused_and_nothing_written(
    tmp_path: Path, kind: str, program: object, settings: dict[str, object], message: str
) -> None:
    if program is None or program == "darkness":
        program = _scripted(Darkness())
    elif program == "fixed":
        program = torch.export.export(Darkness().eval(), (torch.rand(2, 3, 64, 64),))
    elif program == "fails":
        program = _scripted(nn.Conv2d(4, 1, 1))  # wants 4 channels
    path = tmp_path / "model.pt"
    with pytest.raises(ConfigError) as error:
        save_program(path, kind, program, 64, 1.0, **settings)  # type: ignore[arg-type]
    assert message in str(error.value)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "arguments,message",
    [
        ((8, 1.0), "tile_size must be a whole number of pixels from 16 to 2048, got 8"),
        ((64.0, 1.0), "tile_size must be a whole number of pixels from 16 to 2048, got 64.0"),
        ((100_000, 1.0), "tile_size must be a whole number of pixels from 16 to 2048, got 100000"),
        ((64, 0), "mpp must be a positive number of microns per pixel, got 0"),
        ((64, float("nan")), "mpp must be a positive number"),
        ((101, 1.0), "a nuclei's tile_size must be even"),  # its maps are stitched at half resolution
    ],
)
def test_settings_are_checked(tmp_path: Path, arguments: tuple[object, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        save_program(tmp_path / "m.pt", "nuclei", _scripted(Darkness()), *arguments)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"threshold must lie in \[0, 1\], got 2"):
        save_program(tmp_path / "m.pt", "nuclei", _scripted(Darkness()), 64, 1.0, threshold=2)
    with pytest.raises(
        ConfigError, match=r"a segmenter program has no threshold \(only detector and nuclei programs have one\)"
    ):
        save_program(tmp_path / "m.pt", "segmenter", _scripted(Darkness()), 64, 1.0, threshold=0.5)


def test_a_damaged_program_is_named_with_the_torch_versions(tmp_path: Path) -> None:
    path = tmp_path / "segmenter.pt"
    save_program(path, "segmenter", _scripted(Darkness()), 64, 2.0)
    payload = torch.load(path, weights_only=True)
    payload["program"] = payload["program"][:200].clone()
    payload["versions"]["torch"] = "2.99.0"
    torch.save(payload, path)
    with pytest.raises(ConfigError) as error:
        load_segmenter(path)
    text = str(error.value)
    assert text.startswith(f"{path}: its torchscript program does not load with torch {torch.__version__}")
    assert "saved with torch 2.99.0" in text


def test_a_program_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "detector.pt"
    save_program(path, "segmenter", _scripted(Darkness()), 64, 2.0)
    with pytest.raises(ConfigError, match="holds a 'segmenter' model, expected a 'detector'"):
        load_detector(path)


def test_what_changes_the_kit_architecture_weights_refuses_a_program(tmp_path: Path) -> None:
    from training.detector.soup import read_ingredients

    path = tmp_path / "detector.pt"
    save_program(path, "detector", _scripted(DarkSpots()), 64, 1.0)
    with pytest.raises(ConfigError) as error:
        read_ingredients([path, path])
    assert str(error.value) == (
        f"{path}: a network of your own (torchscript program, saved with save_program); a soup (averaged weights) "
        "needs a checkpoint of the kit's own architecture (what python -m training writes)"
    )


def test_the_kit_scores_a_program_as_it_scores_its_own_detectors(tmp_path: Path) -> None:
    from tests.training.detector.conftest import crop_image, crop_stack
    from training.cli import main

    stack = crop_stack(tmp_path / "crops.tiff", [crop_image((64, 64)), crop_image((16, 16)), crop_image(None)])
    path = tmp_path / "detector.pt"
    save_program(path, "detector", _scripted(DarkSpots(4)), 64, 0.5, threshold=0.5)
    out = tmp_path / "report.json"
    assert main(["detector-score", "--model", str(path), "--crops", str(stack), "--out", str(out)]) == 0
    crops = json.loads(out.read_text())["crops"]["per_crop"]
    assert [(c["page"], c["found"]) for c in crops] == [(1, True), (2, False), (3, False)]


class Patchy(torch.nn.Module):
    """A patch classifier: one logit per tile, from its mean darkness."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 4 * (0.7 - x.mean(dim=(1, 2, 3)))


def test_a_patch_classifier_keeps_its_patch_filters(tmp_path: Path) -> None:
    from algorithm.models import load_patch_classifier
    from algorithm.patches.options import PatchOptions
    from algorithm.slide_label import LabelOptions, patch_options

    path = tmp_path / "patch_classifier.pt"
    save_program(path, "patch-classifier", _scripted(Patchy()), 128, 2.0, patches=PatchOptions(max_blood=0.2))
    _, config, checkpoint = load_patch_classifier(path)
    chosen = patch_options(config, checkpoint, LabelOptions())
    assert (chosen.max_blood, chosen.size, chosen.mpp) == (0.2, 128, 2.0)
    with pytest.raises(ConfigError, match="patches are a patch classifier's filters, not a segmenter's"):
        save_program(tmp_path / "s.pt", "segmenter", _scripted(Darkness()), 64, 2.0, patches=PatchOptions())


class TwoClasses(torch.nn.Module):
    """Background and foreground logits, as a two-class segmentation network returns them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grey = x.mean(1, keepdim=True)
        return torch.cat([grey, 1 - grey], 1)


class FixedBatch(torch.nn.Module):
    """Reshapes to the batch size it is traced with: a trace of it is fixed to that size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).reshape(int(x.shape[0]), 1, x.shape[2], x.shape[3])


class Normalised(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class SizedFor64(torch.nn.Module):
    """A classifier whose linear layer fits 64 px tiles only."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3 * 8 * 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.nn.functional.avg_pool2d(x, 8).flatten(1))


def test_what_would_give_wrong_results_in_the_job_is_refused_when_saved(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    with pytest.raises(ConfigError, match="the segmenter program returns 2 channels; the kit reads one"):
        save_program(path, "segmenter", _scripted(TwoClasses()), 64, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's own warnings about the int() it fixes
        traced = torch.jit.trace(FixedBatch().eval(), torch.rand(2, 3, 64, 64))
    with pytest.raises(ConfigError, match=r"the nuclei program failed on a batch of \(3, 3, 64, 64\) random tiles"):
        save_program(path, "nuclei", traced, 64, 0.5)
    training = torch.export.export(
        Normalised(), (torch.rand(2, 3, 64, 64),), dynamic_shapes={"x": {0: torch.export.Dim("batch")}}
    )
    with pytest.raises(ConfigError, match="a BatchNorm in training mode"):
        save_program(path, "segmenter", training, 64, 2.0)
    with pytest.raises(ConfigError) as error:  # TorchScript's interpreter error: the line that says why
        save_program(path, "patch-classifier", _scripted(SizedFor64()), 128, 1.0)
    assert "mat1 and mat2 shapes cannot be multiplied" in str(error.value)
    assert not path.exists()
    save_program(path, "segmenter", _scripted(Normalised().eval()), 64, 2.0)  # in eval mode: fine


def _grey(x: torch.Tensor) -> torch.Tensor:
    return x.mean(1, keepdim=True)


def test_where_it_is_written_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder; give the model file's path in it"):
        save_program(tmp_path, "segmenter", _scripted(Darkness()), 64, 2.0)
    with pytest.raises(ConfigError, match="nowhere: folder not found"):
        save_program(tmp_path / "nowhere" / "m.pt", "segmenter", _scripted(Darkness()), 64, 2.0)
    with pytest.raises(ConfigError, match="a segmenter's tile_size must be even"):
        save_program(tmp_path / "m.pt", "segmenter", _scripted(Darkness()), 66 + 1, 2.0)
    fixed = torch.export.export(Darkness().eval(), (torch.rand(2, 3, 64, 64),))
    with pytest.raises(ConfigError, match=r"^the program was exported for batches of exactly 2 tiles"):
        save_program(tmp_path / "m.pt", "segmenter", fixed, 64, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        function = torch.jit.script(_grey)
    with pytest.raises(ConfigError, match="the network is a scripted function"):
        save_program(tmp_path / "m.pt", "segmenter", function, 64, 2.0)  # type: ignore[arg-type]


class LabelZero(torch.nn.Module):
    """A detector counting its one class from 0, unlike torchvision (0: background)."""

    def forward(self, tiles: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        found: list[dict[str, torch.Tensor]] = []
        for _ in range(tiles.shape[0]):
            box = torch.tensor([[4.0, 4.0, 12.0, 12.0]])
            found.append({"boxes": box, "scores": torch.ones(1), "labels": torch.zeros(1, dtype=torch.int64)})
        return found


def test_numpy_numbers_are_taken_as_python_numbers(tmp_path: Path) -> None:
    path = tmp_path / "detector.pt"
    save_program(
        path,
        "detector",
        _scripted(DarkSpots()),
        np.int64(64),
        np.float32(0.5),
        threshold=np.float32(0.6),
        metrics={"f1": np.float64(0.7), "per_scanner": [np.float32(0.5)]},
        views=np.int64(2),
    )
    _, config, checkpoint = load_detector(path)  # weights_only: numpy objects would not load
    assert (config.tile_size, config.mpp, config.views) == (64, 0.5, 2)
    assert checkpoint["threshold"] == pytest.approx(0.6) and checkpoint["metrics"]["f1"] == 0.7


def test_a_detector_with_other_labels_is_refused_and_a_job_says_what_it_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError, match=r"returns labels \[0\]; the kit reads label 1 as a mitotic figure"):
        save_program(tmp_path / "detector.pt", "detector", _scripted(LabelZero()), 64, 1.0)
    # a file written without the trial (another kit's, or by hand): the job warns instead of writing nothing quietly
    from algorithm.models.checkpoint import save_payload

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(_scripted(LabelZero()), buffer)
    program = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
    folder = tmp_path / "model"
    folder.mkdir()
    config = {"tile_size": 64, "mpp": 1.0}
    save_payload(
        folder / "detector.pt", "detector", config, {"program": program}, extra={"program_format": "torchscript"}
    )
    with caplog.at_level("WARNING"):
        run_job(JobOptions(input=SLIDE, output=tmp_path / "out", task=MIDOG, model_dir=folder), log=lambda _: None)
    assert re.search(r"case-007100.tif: \d+ calls of labels \[0\] dropped: label 1 is a mitotic figure", caplog.text)


def test_an_exported_network_keeps_its_mode_where_training_code_sets_one() -> None:
    from algorithm.engine.models import set_training

    module = _exported(Darkness(), 64).module()
    set_training(module, False)  # torch refuses module.eval() on an exported program's module
    set_training(module, True)
