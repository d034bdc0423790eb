"""The README's "Your own model" example, run as written: a torchvision detector saved whole and an exported
(torch.export) segmenter, neither the kit's own, on a slide normalised to the participant's stain target,
through the kit's engine, NMS and heatmap stitching; and its task-file example."""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

from tests.algorithm.models.own_networks import DarkSpots
from tests.conftest import REPO, blob_image, write_pyramid_tiff


def _readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    examples = [block for block in blocks if "my_detector.pt" in block]
    assert len(examples) == 1, "the README's own-model example is gone or doubled"
    return examples[0]


class TinySegmenter(torch.nn.Module):
    """A participant's network: one logit map per tile, at a quarter of the tile's side."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, kernel_size=4, stride=4)

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        return self.conv(tiles)


@pytest.fixture()
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    before = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(before)


def test_the_readme_own_model_example_runs_as_written(in_tmp: Path) -> None:
    torch.manual_seed(0)
    detector = torchvision.models.detection.retinanet_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=2, min_size=512, max_size=512
    )
    torch.save(detector, in_tmp / "my_detector.pt")  # the whole module, as the example loads it
    batch = {"tiles": {0: torch.export.Dim("batch")}}  # a slide's last batch is shorter
    program = torch.export.export(TinySegmenter().eval(), (torch.rand(2, 3, 256, 256),), dynamic_shapes=batch)
    torch.export.save(program, str(in_tmp / "my_segmenter.pt2"))
    Image.fromarray(blob_image(256, 256, seed=3)).save(in_tmp / "my_target.png")  # the participant's stain target
    # a 512 x 512 px slide at 0.25 um/px: one detector tile, one segmenter tile (a TIFF, as every .svs is)
    slide = write_pyramid_tiff(in_tmp / "slide.tiff", blob_image(512, 512), mpp=0.25, tile=128, levels=2)
    slide.rename(in_tmp / "slide.svs")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(_readme_example(), "README.md", "exec"), {})  # noqa: S102 - the README's own text
    line = printed.getvalue()
    assert "1 of 1 tiles with tissue" in line and "mitotic figures" in line, line


def test_the_readme_task_file_example_writes_its_socket(tmp_path: Path) -> None:
    from algorithm.cli import main

    blocks = re.findall(r"```json\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    assert len(blocks) == 1, "the README's task-file example is gone or doubled"
    task = tmp_path / "task.json"
    task.write_text(blocks[0])
    out = tmp_path / "out"
    argv = ["--task-file", str(task), "--input", str(REPO / "test" / "input"), "--output", str(out), "--views", "1"]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["my-points.json"]
    assert (out / "my-points.json").read_text().count('"point"') > 0


class MySegmenter(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, kernel_size=4, stride=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:FutureWarning"
)  # the README scripts, as torch 2.14 warns
def test_the_readme_save_program_example_makes_a_model_folder_the_job_runs(in_tmp: Path) -> None:
    from algorithm.interface.tasks import HELP, MIDOG
    from algorithm.job import JobOptions, run_job

    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    examples = [block for block in blocks if "save_program(" in block]
    assert len(examples) == 1, "the README's save_program example is gone or doubled"
    (in_tmp / "my-model").mkdir()
    names = {"MyDetector": DarkSpots, "my_segmenter": MySegmenter(), "target_rgb": blob_image(256, 256, seed=3)}
    exec(compile(examples[0], "README.md", "exec"), names)  # noqa: S102 - the README's own text
    (in_tmp / "my-model" / "slide_model.joblib").symlink_to(REPO / "models" / "slide_model.joblib")
    slide = REPO / "test" / "input" / "images" / "histopathology-roi-cropout" / "case-007100.tif"
    for task in (MIDOG, HELP):
        options = JobOptions(input=slide, output=in_tmp / task.name, task=task, model_dir=in_tmp / "my-model")
        job = run_job(options, log=lambda _: None)
        assert job.written, task.name
    assert job.tumour is not None and job.tumour.heatmap.tiles > 0
