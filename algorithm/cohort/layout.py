"""The cohort's output folder: one folder per slide, laid out as grand-challenge lays out a submission.

::

    OUT/<job>/output/...        the job's outputs, exactly as the container writes them to /output
    OUT/<job>/cohort-row.json   the slide's row of the table (kept so a rerun can list skipped slides)
    OUT/<job>/qc.png            its QC picture (--qc)
    OUT/predictions.json        grand-challenge's list of jobs: the evaluation reads OUT as its /input
    OUT/cohort.csv  OUT/index.html
    OUT/.cohort-partial/        slides being written; moved into place whole, so a slide's folder
                                is either complete or absent (and this is cleared at every start)
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from algorithm.interface.tasks import Task

OUTPUT = "output"
ROW_FILE = "cohort-row.json"
QC_FILE = "qc.png"
PARTIAL = ".cohort-partial"
TABLE_FILE = "cohort.csv"
INDEX_FILE = "index.html"


class CohortLayout:
    """Where each file of a cohort run goes under its output folder ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def slide_dir(self, job: str) -> Path:
        """The slide's folder (grand-challenge's ``/input/<pk>``)."""
        return self.root / job

    def output_dir(self, job: str) -> Path:
        """The slide's outputs, as the container's ``/output``."""
        return self.root / job / OUTPUT

    def is_complete(self, job: str, task: Task, qc: bool) -> bool:
        """Whether the slide's folder holds every output of ``task``, its row and (``qc``) its picture."""
        folder = self.slide_dir(job)
        needed = [folder / OUTPUT / socket.relative_path for socket in task.outputs.values()]
        needed.append(folder / ROW_FILE)
        if qc:
            needed.append(folder / QC_FILE)
        return all(path.is_file() for path in needed)

    def staging(self, job: str) -> Path:
        """A fresh folder to write one slide into before :meth:`commit` moves it into place."""
        folder = self.root / PARTIAL / f"{job}.{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        return folder

    def commit(self, staging: Path, job: str) -> Path:
        """Move a finished slide's staging folder into place, replacing an older (incomplete) one."""
        target = self.slide_dir(job)
        old = None
        if target.exists():
            old = self.root / PARTIAL / f"{job}.old.{uuid.uuid4().hex[:8]}"
            target.rename(old)
        staging.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return target

    def clear_partial(self) -> None:
        """Remove what an interrupted run left half-written."""
        shutil.rmtree(self.root / PARTIAL, ignore_errors=True)
