"""A cohort on a local Ray cluster (2 workers), run twice, with a corrupt slide in the list."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from algorithm.cohort.layout import PARTIAL
from evaluation.config import Config
from evaluation.predictions import read_predictions
from tests.algorithm.cohort.browser import dump_dom
from tests.algorithm.cohort.conftest import cohort, files_under, single_job


@dataclass
class Run:
    """A cohort run: its output folder, exit status, stdout (the summary), stderr (start-up lines, errors)
    and the cohort.csv it left."""

    out: Path
    returncode: int
    stdout: str
    stderr: str
    csv: str

    def table(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.csv)))

    @classmethod
    def of(cls, out: Path, result: subprocess.CompletedProcess[str]) -> Run:
        return cls(out, result.returncode, result.stdout, result.stderr, (out / "cohort.csv").read_text())


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, cohort_slides: list[Path], shared_data: Path
) -> tuple[Path, Run, Run, dict[str, bytes]]:
    """The cohort (three slides and a corrupt one, in a CSV) run, and run again."""
    folder = tmp_path_factory.mktemp("cohort")
    listed = [*cohort_slides[:2], shared_data / "openslide" / "unreadable.svs", cohort_slides[2]]
    (folder / "slides.csv").write_text("slide\n" + "".join(f"{p}\n" for p in listed))
    out = folder / "out"
    args = ["--input", str(folder / "slides.csv"), "--output", str(out), "--workers", "2", "--qc"]
    first = Run.of(out, cohort(*args))
    files = files_under(out)
    second = Run.of(out, cohort(*args))
    return folder, first, second, files


def test_every_slide_runs_and_the_corrupt_one_is_reported(runs: tuple[Path, Run, Run, dict[str, bytes]]) -> None:
    _, first, _, _ = runs
    assert first.returncode == 1, first.stderr  # a slide failed
    rows = first.table()
    assert [r["job"] for r in rows] == ["synth-000031", "synth-000032", "unreadable", "synth-000033"]
    assert [r["status"] for r in rows] == ["done", "done", "failed", "done"]
    names = ["synth-000031.tiff", "synth-000032.tiff", "unreadable.svs", "synth-000033.tiff"]
    assert [r["name"] for r in rows] == names  # the files' names (a failed one's too)
    bad = rows[2]
    assert "unreadable.svs" in bad["error"] and "corrupt" in bad["error"] and bad["seconds"] == ""
    for row in (rows[0], rows[1], rows[3]):
        assert row["error"] == "" and float(row["seconds"]) > 0 and int(row["tiles"]) > 0
        assert int(row["candidates"]) >= int(row["mitotic_figures"]) >= 0
    assert "cohort: 4 slides: 3 done, 0 skipped (already complete), 1 failed, 0 not run" in first.stdout
    assert re.search(r"time: [\d.]+ s for 4 slides, \d+ slides/hour", first.stdout)
    assert "failed: " in first.stdout and "unreadable.svs" in first.stdout
    assert not (first.out / PARTIAL).exists() and not (first.out / "unreadable").exists()


def test_models_load_once_per_worker(runs: tuple[Path, Run, Run, dict[str, bytes]]) -> None:
    _, first, _, _ = runs
    startup = [line for line in first.stderr.splitlines() if ": algorithm " in line and "device cpu" in line]
    assert len(startup) == 2, first.stderr
    workers = {row["worker"] for row in first.table()}
    assert 1 <= len(workers) <= 2 and workers <= {line.split(": algorithm ")[0] for line in startup}


def test_outputs_are_byte_identical_to_single_slide_runs(
    runs: tuple[Path, Run, Run, dict[str, bytes]], cohort_slides: list[Path], tmp_path: Path
) -> None:
    _, first, _, _ = runs
    for slide in cohort_slides[:2]:
        single_job(slide, tmp_path / slide.stem)
        assert files_under(first.out / slide.stem / "output") == files_under(tmp_path / slide.stem)


def test_the_evaluation_reads_the_cohort_as_a_submission(runs: tuple[Path, Run, Run, dict[str, bytes]]) -> None:
    _, first, _, _ = runs
    jobs = read_predictions(first.out, Config())
    assert sorted((job.pk, job.case) for job in jobs) == [(f"synth-0000{n}", f"synth-0000{n}") for n in (31, 32, 33)]
    for job in jobs:
        assert job.outputs["mitotic-figures"].path == first.out / job.pk / "output" / "mitotic-figures.json"
        assert job.outputs["mitotic-figures"].path.is_file()


def test_a_second_run_skips_every_complete_slide(runs: tuple[Path, Run, Run, dict[str, bytes]]) -> None:
    _, first, second, files = runs
    assert second.returncode == 1  # the corrupt slide fails again
    assert [r["status"] for r in second.table()] == ["skipped", "skipped", "failed", "skipped"]
    assert "3 skipped (already complete), 1 failed" in second.stdout
    after = files_under(second.out)
    changed = sorted(name for name in files if files[name] != after.get(name))
    assert changed == ["cohort.csv", "index.html"]  # the slides' folders untouched
    assert [r["seconds"] for r in second.table()] == [r["seconds"] for r in first.table()]


def test_index_html_shows_every_slide_in_a_real_browser(
    runs: tuple[Path, Run, Run, dict[str, bytes]], tmp_path: Path
) -> None:
    _, first, _, _ = runs
    dom = dump_dom(f"{(first.out / 'index.html').as_uri()}#sort=job:desc", tmp_path / "profile")
    assert re.search(r'id="pictures-loaded">3 of 3<', dom), dom[:2000]  # every picture loaded
    assert 'data-sorted-by="job:desc"' in dom  # the script ran and sorted the table
    jobs = re.findall(r"<td>(synth-0000\d\d|unreadable)</td>", dom)
    assert jobs == ["unreadable", "synth-000033", "synth-000032", "synth-000031"]
    for n in (31, 32, 33):
        assert f'src="synth-0000{n}/qc.png"' in dom
        assert f'<td class="name">synth-0000{n}.tiff</td>' in dom  # the case, beside its picture
