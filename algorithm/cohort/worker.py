"""A cohort worker: loads the task's models once, then runs slide after slide through the container's job.

Plain Python (the Ray actor is this class wrapped by ``cluster.py``), so it runs and is
tested without Ray. Each slide is written to a staging folder and moved into place only
when complete; a slide that fails leaves nothing and comes back as a ``failed`` row with
its one-line error, and the worker goes on with the next.

torch's intra-op threads decide the last bits of a model's floating-point results, so a
worker uses as many as a single ``python -m algorithm`` would (``threads``): its outputs
are then byte-identical to that command's.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from algorithm.cohort.layout import QC_FILE, ROW_FILE, CohortLayout
from algorithm.cohort.record import DONE, FAILED, SlideRow
from algorithm.cohort.slides import CohortSlide
from algorithm.console import error_line
from algorithm.errors import KitError
from algorithm.interface.inputs import find_input
from algorithm.interface.tasks import Task
from algorithm.io.atomic import write_bytes_atomic
from algorithm.qc.figures import output_values, tiles_analysed
from algorithm.qc.job_view import job_picture

if TYPE_CHECKING:
    from algorithm.job import Runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker of a cohort run shares: the task, the output folder, the job's options."""

    task: Task
    output: Path
    model_dir: Path | None = None
    device: str = "auto"
    mpp: float | None = None
    batch_size: int | None = None
    readers: int | None = None  # tile readers per job (the single job's --workers)
    threshold: float | None = None
    views: int | None = None  # the detector's test-time views; None: the checkpoint's
    threads: int | None = None  # torch intra-op threads; None: torch's default in the worker
    qc: bool = False
    qc_side: int = 1024


def input_name(path: Path, task: Task) -> str:
    """The image name a job on ``path`` would have (its ``name`` column), or "" when its input cannot be found."""
    try:
        return find_input(path, task).name
    except (KitError, OSError):
        return ""


def _one_line(exc: BaseException) -> str:
    line, _ = error_line(exc)
    return line.removeprefix("error: ")


class SlideWorker:
    """Models loaded once (a :class:`~algorithm.job.Runtime`); :meth:`process` runs one slide."""

    def __init__(self, settings: WorkerSettings) -> None:
        import torch

        from algorithm import job  # torch: imported in the worker, not in the driver

        self.settings = settings
        self.layout = CohortLayout(settings.output)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        if settings.threads is not None:
            torch.set_num_threads(settings.threads)
        self.line = ""
        self.problem = ""
        self.runtime: Runtime | None = None
        try:
            self.runtime = job.Runtime.load([settings.task], settings.model_dir, settings.device, log=self._startup)
        except KitError as exc:  # said by ready(): the driver stops with this one line
            self.problem = str(exc)

    def _startup(self, line: str) -> None:
        self.line = line

    def ready(self) -> tuple[str, str, str]:
        """(this worker's name, its start-up line, the error that stops it or "")."""
        return self.name, self.line, self.problem

    def process(self, slide: CohortSlide) -> SlideRow:
        """Run the job on one slide into its folder; a ``done`` row, or a ``failed`` one with the error."""
        from algorithm.job import JobOptions, run_job

        s = self.settings
        row = SlideRow(slide=str(slide.path), job=slide.job, status=FAILED, worker=self.name)
        if self.runtime is None:
            row.error, row.name = self.problem, input_name(slide.path, s.task)
            return row
        staging = self.layout.staging(slide.job)
        try:
            output = staging / "output"
            options = JobOptions(
                input=slide.path,
                output=output,
                task=s.task,
                model_dir=s.model_dir,
                device=s.device,
                mpp=s.mpp,
                batch_size=s.batch_size,
                workers=s.readers,
                threshold=s.threshold,
                views=s.views,
            )
            result = run_job(options, log=logger.debug, runtime=self.runtime)
            row.status, row.name, row.seconds = DONE, result.name, result.seconds
            row.tiles = tiles_analysed(result)
            row.values = output_values(output, s.task, result)
            if s.qc:
                picture = job_picture(result, s.task, output, s.qc_side, row.values)  # no second inference
                write_bytes_atomic(staging / QC_FILE, picture)
            row.save(staging / ROW_FILE)
            self.layout.commit(staging, slide.job)
        except Exception as exc:  # noqa: BLE001 - one slide's failure, whatever it is, must not stop the cohort
            shutil.rmtree(staging, ignore_errors=True)
            row.status, row.error = FAILED, _one_line(exc)
            row.name = row.name or input_name(slide.path, s.task)  # a failed case still says which it is
            row.values, row.tiles = {}, None
        return row
