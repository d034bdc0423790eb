from __future__ import annotations

from pathlib import Path

import pytest
import torch

from algorithm.cohort.layout import PARTIAL, QC_FILE, ROW_FILE
from algorithm.cohort.record import DONE, FAILED, SlideRow
from algorithm.cohort.slides import CohortSlide
from algorithm.cohort.worker import SlideWorker, WorkerSettings, input_name
from algorithm.interface.tasks import HELP, MIDOG
from tests.algorithm.cohort.conftest import files_under, single_job


def test_a_worker_writes_what_the_container_writes_and_fails_a_bad_slide_alone(
    tmp_path: Path, cohort_slides: list[Path], shared_data: Path
) -> None:
    settings = WorkerSettings(task=HELP, output=tmp_path / "out", threads=torch.get_num_threads(), qc=True)
    worker = SlideWorker(settings)
    name, line, problem = worker.ready()
    assert problem == "" and line.startswith("algorithm ") and "device cpu" in line
    slide = cohort_slides[0]
    row = worker.process(CohortSlide(slide, "first"))
    assert row.status == DONE and row.error == "" and row.worker == name and row.name == slide.name
    assert row.tiles and row.seconds and row.values["tumour_probability"] is not None
    single_job(slide, tmp_path / "single", task="help")
    assert files_under(tmp_path / "out" / "first" / "output") == files_under(tmp_path / "single")
    assert SlideRow.load(tmp_path / "out" / "first" / ROW_FILE) == row
    assert (tmp_path / "out" / "first" / QC_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bad = worker.process(CohortSlide(shared_data / "openslide" / "unreadable.svs", "bad"))
    assert bad.status == FAILED and bad.values == {} and bad.tiles is None and bad.name == "unreadable.svs"
    assert "unreadable.svs" in bad.error and "\n" not in bad.error and not bad.error.startswith("error:")
    assert not (tmp_path / "out" / "bad").exists()
    assert list((tmp_path / "out" / PARTIAL).iterdir()) == []
    assert worker.process(CohortSlide(cohort_slides[1], "second")).status == DONE  # it goes on


def test_a_worker_without_its_models_says_why(tmp_path: Path, cohort_slides: list[Path]) -> None:
    worker = SlideWorker(WorkerSettings(task=HELP, output=tmp_path / "out", model_dir=tmp_path / "nowhere"))
    assert worker.ready()[2] == f"{tmp_path / 'nowhere'}: model folder not found"
    row = worker.process(CohortSlide(cohort_slides[0], "a"))
    assert row.status == FAILED and "model folder not found" in row.error


def test_a_failed_input_folder_still_names_its_case(tmp_path: Path) -> None:
    """The corrupt slide of a grand-challenge input folder: its row says which case failed, not only "input"."""
    folder = tmp_path / "input"
    case = folder / "images" / "histopathology-roi-cropout" / "case-007100.tif"
    case.parent.mkdir(parents=True)
    case.write_bytes(b"II*\x00 not a TIFF")
    assert input_name(folder, MIDOG) == "case-007100.tif"
    assert input_name(tmp_path / "missing", MIDOG) == ""
    worker = SlideWorker(WorkerSettings(task=MIDOG, output=tmp_path / "out", threads=torch.get_num_threads()))
    row = worker.process(CohortSlide(folder, "input"))
    assert row.status == FAILED and row.name == "case-007100.tif" and row.job == "input", row.error


@pytest.fixture(autouse=True)
def _torch_threads() -> object:
    """A worker sets torch's threads for its process: restore them for the other tests."""
    before = torch.get_num_threads()
    yield None
    torch.set_num_threads(before)
