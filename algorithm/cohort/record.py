"""One slide's row of the cohort table: status, time, tiles, the figures of each output, the error.

The figures are read back from the outputs as written (what the evaluation will score):
for mitotic figures the points named "mitotic figure" and all points; a Float's number
(the tumour's probability and major axis, the label task's slide likelihood); the axis
line's length; the label task's Bool call as 1 or 0; for the heatmap the share of tissue
at or above 0.5; for the nuclei mask the share of its pixels. ``tiles`` counts the tiles
and patches the models ran on: the detector's, the segmenter's, the nuclei U-Net's and the
patch classifier's.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from algorithm.errors import KitError
from algorithm.interface.annotations import ABOVE
from algorithm.interface.tasks import Task
from algorithm.io.atomic import write_json_atomic

if TYPE_CHECKING:
    from algorithm.job import JobResult

DONE, SKIPPED, FAILED, NOT_RUN = "done", "skipped", "failed", "not run"
SUCCEEDED = (DONE, SKIPPED)
BASE_COLUMNS = ("slide", "job", "status", "seconds", "tiles")
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

Value = float | int | None


def value_columns(task: Task) -> list[str]:
    """The table's output columns for ``task``, in its outputs' order."""
    return [column for result in task.outputs for column in RESULT_COLUMNS.get(result, ())]


def table_columns(task: Task) -> list[str]:
    """Every column of the table, in order."""
    return [*BASE_COLUMNS, *value_columns(task), *TAIL_COLUMNS]


@dataclass
class SlideRow:
    """A slide's row: ``values`` by output column (see :data:`RESULT_COLUMNS`); ``name`` is its image name."""

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
        return [self.slide, self.job, self.status, seconds, tiles, *values, self.worker, self.error]

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


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KitError(f"{path}: cannot read the output back ({exc})") from exc


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _flag(value: Any) -> int | None:
    """A written Bool as 1 or 0 (None for anything else)."""
    return int(value) if isinstance(value, bool) else None


def output_values(output: Path, task: Task, result: JobResult) -> dict[str, Value]:
    """The figures of each output the job wrote to ``output`` (its ``/output``)."""
    values: dict[str, Value] = {}
    for name, socket in task.outputs.items():
        path = output / socket.relative_path
        if name == "mitotic_figures":
            points = _read(path).get("points", [])
            values["mitotic_figures"] = sum(1 for p in points if p.get("name") == ABOVE)
            values["candidates"] = len(points)
        elif name in ("tumour_probability", "tumour_major_axis_um", "slide_likelihood"):
            values[name] = _number(_read(path))
        elif name == "slide_label":
            values[name] = _flag(_read(path))
        elif name == "tumour_major_axis_line":
            line = _read(path)
            start, end = line.get("start", [0, 0]), line.get("end", [0, 0])
            values["tumour_major_axis_line_mm"] = math.hypot(end[0] - start[0], end[1] - start[1])
        elif name == "tumour_heatmap" and result.tumour is not None:
            heatmap = result.tumour.heatmap.heatmap
            tissue = heatmap.probability[heatmap.tissue]
            values["tumour_percent"] = 100.0 * float((tissue >= 0.5).mean()) if tissue.size else 0.0
        elif name == "nuclei_mask" and result.nuclei is not None:
            mask = result.nuclei.mask
            values["nuclei_percent"] = 100.0 * float(np.count_nonzero(mask)) / max(1, mask.size)
    return values


def tiles_analysed(result: JobResult) -> int:
    """Tiles the models ran on: the detector's, the segmenter's, the nuclei U-Net's and the label task's patches."""
    tiles = 0 if result.detections is None else result.detections.tiles
    tiles += 0 if result.tumour is None else result.tumour.heatmap.tiles
    tiles += 0 if result.nuclei is None else result.nuclei.segmentation.tiles
    return tiles + (0 if result.label is None else len(result.label.patches.selection.grid))
