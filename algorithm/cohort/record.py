"""One slide's row of the cohort table: its name, status, time, tiles, the figures of each output, the error.

The figures and the tiles are :mod:`algorithm.qc.figures`' (read back from the outputs as
written, what the evaluation will score), the same as the slide's QC picture's caption.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from algorithm.errors import KitError
from algorithm.interface.tasks import Task
from algorithm.io.atomic import write_json_atomic
from algorithm.qc.figures import Value

DONE, SKIPPED, FAILED, NOT_RUN = "done", "skipped", "failed", "not run"
SUCCEEDED = (DONE, SKIPPED)
# "name": the image's name on the platform (inputs.json's, else the file's), which the evaluation joins on;
# a grand-challenge input folder's slide and job ("input", "input-2") do not say which case it is
BASE_COLUMNS = ("slide", "name", "job", "status", "seconds", "tiles")
# each result's columns in the table
RESULT_COLUMNS = {
    "mitotic_figures": ("mitotic_figures", "candidates"),
    "tumour_probability": ("tumour_probability",),
    "tumour_major_axis_um": ("tumour_major_axis_um",),
    "tumour_major_axis_line": ("tumour_major_axis_line_mm",),
    "tumour_heatmap": ("tumour_percent",),
    "nuclei_mask": ("nuclei_percent",),
    "slide_likelihood": ("slide_likelihood",),
    "slide_label": ("slide_label",),
}
TAIL_COLUMNS = ("worker", "error")


def value_columns(task: Task) -> list[str]:
    """The table's output columns for ``task``, in its outputs' order."""
    return [column for result in task.outputs for column in RESULT_COLUMNS.get(result, ())]


def table_columns(task: Task) -> list[str]:
    """Every column of the table, in order."""
    return [*BASE_COLUMNS, *value_columns(task), *TAIL_COLUMNS]


@dataclass
class SlideRow:
    """A slide's row: ``values`` by output column (see :data:`RESULT_COLUMNS`); ``name`` is its image name
    ("" when unknown: a slide not run, or an input folder whose image could not be found)."""

    slide: str
    job: str
    status: str
    name: str = ""
    seconds: float | None = None
    tiles: int | None = None
    values: dict[str, Value] = field(default_factory=dict)
    worker: str = ""
    error: str = ""

    def cells(self, task: Task) -> list[str]:
        """The row as the table's text cells, in :func:`table_columns` order."""
        seconds = "" if self.seconds is None else f"{self.seconds:.2f}"
        tiles = "" if self.tiles is None else str(self.tiles)
        values = [_text(self.values.get(column)) for column in value_columns(task)]
        return [self.slide, self.name, self.job, self.status, seconds, tiles, *values, self.worker, self.error]

    def save(self, path: Path) -> None:
        """Write the row as JSON (atomically)."""
        write_json_atomic(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> SlideRow:
        """A row saved by :meth:`save`; KitError naming the file if it is not one."""
        try:
            data = json.loads(path.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise KitError(f"{path}: not a cohort row ({exc})") from exc


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
