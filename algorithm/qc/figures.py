"""A finished job's figures: the tiles its models ran on and each output's value, read back as written.

What the evaluation will score, in numbers a table or a caption can hold: for mitotic
figures the points named "mitotic figure" and all points; a Float's number (the tumour's
probability and major axis, the label task's slide likelihood); the axis line's length; the
label task's Bool call as 1 or 0; for the heatmap the share of tissue at or above 0.5; for
the nuclei mask the share of its pixels. ``tiles_analysed`` counts the tiles and patches the
models ran on: the detector's, the segmenter's, the nuclei U-Net's and the patch classifier's.
The cohort's rows (``algorithm.cohort.record``) and the QC pictures' captions show them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from algorithm.errors import KitError
from algorithm.interface.annotations import ABOVE
from algorithm.interface.tasks import Task

if TYPE_CHECKING:
    from algorithm.job import JobResult

Value = float | int | None


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
