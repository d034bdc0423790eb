"""The cohort row's columns (read back from the outputs the job wrote) and its tiles, for the label and nuclei tasks."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from algorithm.classify import LabelPrediction
from algorithm.cohort.layout import QC_FILE, ROW_FILE
from algorithm.cohort.record import DONE, NOT_RUN, SlideRow, table_columns, value_columns
from algorithm.cohort.slides import CohortSlide
from algorithm.cohort.table import table_text
from algorithm.cohort.worker import SlideWorker, WorkerSettings
from algorithm.interface.outputs import write_outputs
from algorithm.interface.tasks import LABEL, MIDOG, NUCLEI, Task
from algorithm.job import JobOptions, JobResult, run_job
from algorithm.patches import PatchSelection
from algorithm.qc.figures import output_values, tiles_analysed
from algorithm.slide_label import LabelAssessment, PatchProbabilities
from algorithm.tiling.grid import Tile, TileGrid
from tests.algorithm.label_models import positive_label_slide
from tests.conftest import blob_image


def label_result(probabilities: list[float], likelihood: float, positive: bool) -> JobResult:
    """A label job's result by hand: one kept patch per probability (of twice as many candidates)."""
    tiles = tuple(Tile(2 * i, 256 * i, 0, (256, 256), (64, 64), 1.0) for i in range(len(probabilities)))
    n = 2 * len(probabilities)
    selection = PatchSelection(
        grid=TileGrid(tiles, 64, 0, 4.0, 0, n),
        candidates=n,
        dropped={"glass": n - len(probabilities)},
        fractions={"tissue": np.ones(n)},
        boxes=np.array([(128 * i, 0, 256, 256) for i in range(n)], dtype=np.float64),
    )
    patches = PatchProbabilities(selection, np.asarray(probabilities, np.float32), 0.1)
    label = LabelAssessment(patches, LabelPrediction(likelihood, positive))
    return JobResult(None, None, [], 1.0, label=label)


@pytest.mark.parametrize(("positive", "flag"), [(True, 1), (False, 0)])
def test_the_label_columns_are_read_back_from_the_written_outputs(tmp_path: Path, positive: bool, flag: int) -> None:
    likelihood = 0.8125 if positive else 0.125
    result = label_result([0.2, 0.9, 0.6], likelihood, positive)
    write_outputs(tmp_path, LABEL, result.label.results() if result.label else {})
    assert (tmp_path / "slide-label.json").read_text().strip() == ("true" if positive else "false")
    values = output_values(tmp_path, LABEL, result)
    assert values == {"slide_likelihood": likelihood, "slide_label": flag}
    assert isinstance(values["slide_label"], int) and not isinstance(values["slide_label"], bool)
    assert tiles_analysed(result) == 3  # the patches the patch classifier ran on, not the candidates
    row = SlideRow("s.tiff", "s", DONE, seconds=1.0, tiles=3, values=values)
    assert value_columns(LABEL) == ["slide_likelihood", "slide_label"]
    assert table_columns(LABEL)[-4:-2] == ["slide_likelihood", "slide_label"]
    assert row.cells(LABEL)[6:8] == [f"{likelihood:.6g}", str(flag)]


def test_the_table_names_each_case_beside_its_slide_and_job() -> None:
    """A grand-challenge input folder's slide and job ("input", "input-2") do not say which case it is: its name."""
    assert table_columns(MIDOG)[:6] == ["slide", "name", "job", "status", "seconds", "tiles"]
    assert table_columns(MIDOG)[-2:] == ["worker", "error"]
    row = SlideRow("/data/test/input", "input-2", DONE, name="case-007100.tif", seconds=2.5, tiles=4)
    row.values = {"mitotic_figures": 12, "candidates": 94}
    assert row.cells(MIDOG) == [
        "/data/test/input",
        "case-007100.tif",
        "input-2",
        "done",
        "2.50",
        "4",
        "12",
        "94",
        "",
        "",
    ]
    table = list(csv.DictReader(io.StringIO(table_text([row, SlideRow("/x/b.svs", "b", NOT_RUN)], MIDOG))))
    assert [(r["name"], r["job"]) for r in table] == [("case-007100.tif", "input-2"), ("", "b")]


def test_a_written_value_not_of_its_kind_is_left_empty(tmp_path: Path) -> None:
    result = label_result([0.5], 0.5, True)
    (tmp_path / "slide-label-likelihood.json").write_text("true\n")  # a Bool where the Float belongs
    (tmp_path / "slide-label.json").write_text("0.7\n")  # and a number where the Bool belongs
    assert output_values(tmp_path, LABEL, result) == {"slide_likelihood": None, "slide_label": None}


def test_the_label_columns_follow_the_tasks_outputs_with_the_others() -> None:
    both = Task(name="both", slide=MIDOG.slide, outputs={**MIDOG.outputs, **LABEL.outputs})
    assert value_columns(both) == ["mitotic_figures", "candidates", "slide_likelihood", "slide_label"]
    assert "slide_likelihood" not in value_columns(MIDOG)


@pytest.fixture(scope="module")
def label_slide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small positive synthetic slide and the label task's test models."""
    folder = tmp_path_factory.mktemp("label-slide")
    return positive_label_slide(folder), folder


@pytest.mark.usefixtures("_torch_threads")
def test_a_label_job_fills_its_row(tmp_path: Path, label_slide: tuple[Path, Path]) -> None:
    slide, models = label_slide
    out = tmp_path / "single"
    result = run_job(JobOptions(input=slide, output=out, task=LABEL, model_dir=models), log=lambda _: None)
    assert result.label is not None
    patches = len(result.label.patches.probabilities)
    assert 0 < patches == len(result.label.patches.selection.grid) < result.label.patches.selection.candidates
    assert tiles_analysed(result) == patches
    values = output_values(out, LABEL, result)
    likelihood = json.loads((out / "slide-label-likelihood.json").read_text())
    call = json.loads((out / "slide-label.json").read_text())
    assert values == {"slide_likelihood": likelihood, "slide_label": int(call)}

    worker = SlideWorker(WorkerSettings(task=LABEL, output=tmp_path / "cohort", model_dir=models, qc=True))
    row = worker.process(CohortSlide(slide, "s"))
    assert row.status == DONE, row.error
    assert row.values == values and row.tiles == patches  # the cohort's row is the single job's
    assert SlideRow.load(tmp_path / "cohort" / "s" / ROW_FILE) == row
    assert (tmp_path / "cohort" / "s" / QC_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.usefixtures("_torch_threads")
def test_a_nuclei_job_counts_the_u_nets_tiles(tmp_path: Path) -> None:
    picture = tmp_path / "patch.png"
    Image.fromarray(blob_image(400, 300, seed=2)).save(picture)
    result = run_job(JobOptions(input=picture, output=tmp_path / "out", task=NUCLEI, mpp=0.25), log=lambda _: None)
    assert result.nuclei is not None and result.nuclei.segmentation.tiles > 0
    assert tiles_analysed(result) == result.nuclei.segmentation.tiles
