"""``predictions.json``: the cohort's finished slides as grand-challenge lists a submission's jobs.

The evaluation container reads a submission from ``/input/predictions.json`` and each
job's outputs from ``/input/<pk>/output/<relative_path>`` (``evaluation/predictions.py``);
a cohort's output folder has that layout, so ``python -m evaluation --input OUT`` scores
it. Only slides whose outputs are complete are listed (grand-challenge evaluates only
succeeded jobs); a failed slide is in ``cohort.csv``, not here. Values of Float sockets
are also given inline, as grand-challenge does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from algorithm.cohort.layout import CohortLayout
from algorithm.cohort.record import SUCCEEDED, SlideRow
from algorithm.errors import KitError
from algorithm.interface.sockets import Socket
from algorithm.interface.tasks import Task
from algorithm.io.atomic import write_json_atomic

PREDICTIONS_FILE = "predictions.json"
VALUE_KINDS = {"Float", "Integer", "Boolean", "String"}
IMAGE_KINDS = {"Image", "Heat Map", "Segmentation"}


def super_kind(kind: str) -> str:
    """grand-challenge's super kind of a socket kind: Value, Image or File."""
    return "Value" if kind in VALUE_KINDS else "Image" if kind in IMAGE_KINDS else "File"


def _interface(socket: Socket) -> dict[str, str]:
    return {
        "slug": socket.slug,
        "kind": socket.kind,
        "super_kind": super_kind(socket.kind),
        "relative_path": socket.relative_path,
    }


def job_entry(row: SlideRow, task: Task, layout: CohortLayout) -> dict[str, Any]:
    """One slide's job as grand-challenge describes it."""
    outputs = []
    for socket in task.outputs.values():
        value = None
        if super_kind(socket.kind) == "Value":
            path = layout.output_dir(row.job) / socket.relative_path
            try:
                value = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise KitError(f"{path}: cannot read the output back ({exc})") from exc
        outputs.append({"image": None, "file": None, "value": value, "interface": _interface(socket)})
    name = row.name or Path(row.slide).name
    inputs = [{"image": {"name": name}, "file": None, "value": None, "interface": _interface(task.slide)}]
    return {"pk": row.job, "status": "Succeeded", "inputs": inputs, "outputs": outputs}


def write_predictions(rows: Iterable[SlideRow], task: Task, layout: CohortLayout) -> int:
    """Write ``OUT/predictions.json`` for the finished rows; how many jobs it lists."""
    jobs = [job_entry(row, task, layout) for row in rows if row.status in SUCCEEDED]
    write_json_atomic(layout.root / PREDICTIONS_FILE, jobs)
    return len(jobs)
