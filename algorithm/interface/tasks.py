"""Declarative tasks: which input socket holds the slide, which results go to
which output sockets. A challenge with other slugs needs only a new ``Task``
(or a JSON file of the same shape, ``--task-file``), no code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from algorithm.errors import ConfigError
from algorithm.interface.sockets import (
    MITOTIC_FIGURES,
    NUCLEI_SEGMENTATION,
    REGION_OF_INTEREST,
    SLIDE_LABEL,
    SLIDE_LABEL_LIKELIHOOD,
    TUMOUR_HEATMAP,
    TUMOUR_LIKELIHOOD,
    TUMOUR_MAJOR_AXIS,
    TUMOUR_MAJOR_AXIS_LINE,
    WHOLE_SLIDE_IMAGE,
    Socket,
)

# results the pipeline can produce -> the output kinds that carry them (Heat Map, Segmentation: image files, MHA)
RESULTS = {
    "mitotic_figures": "Multiple points",
    "tumour_probability": "Float",
    "tumour_major_axis_um": "Float",
    "tumour_major_axis_line": "Distance measurement",
    "tumour_heatmap": "Heat Map",
    "nuclei_mask": "Segmentation",
    "slide_likelihood": "Float",
    "slide_label": "Bool",
}
# the length unit the pipeline writes each result in; a task file's socket may not claim another
RESULT_UNITS = {"mitotic_figures": "mm", "tumour_major_axis_um": "um", "tumour_major_axis_line": "mm"}


@dataclass(frozen=True)
class Task:
    """A container task: the input image socket and the socket each pipeline result is written to."""

    name: str
    slide: Socket  # the input image socket
    outputs: dict[str, Socket]  # result name -> output socket

    @classmethod
    def from_dict(cls, data: dict, source: str = "task") -> Task:
        """A task from a task file's JSON; ConfigError naming ``source`` and the socket for anything wrong."""
        unknown_keys = sorted(set(data) - {"name", "slide", "outputs"}) if isinstance(data, dict) else []
        if unknown_keys:
            raise ConfigError(f"{source}: unknown key(s) {unknown_keys}; known keys: ['name', 'outputs', 'slide']")
        where = "slide"
        try:
            slide = Socket.from_dict(data["slide"])
            outputs: dict[str, Socket] = {}
            for result, socket in data["outputs"].items():
                where = f"outputs.{result}"
                outputs[result] = Socket.from_dict(socket)
            task = cls(name=str(data.get("name", source)), slide=slide, outputs=outputs)
        except ValueError as exc:  # the socket's own check; unknown keys included
            raise ConfigError(f"{source}: {where}: {exc}") from exc
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"{source}: a task needs 'slide' and 'outputs' sockets with slug, relative_path, kind ({exc})"
            ) from exc
        unknown = sorted(set(task.outputs) - set(RESULTS))
        if unknown:
            raise ConfigError(f"{source}: unknown results {unknown}; the pipeline produces {sorted(RESULTS)}")
        for result, socket in task.outputs.items():
            if socket.unit is not None and socket.unit != RESULT_UNITS.get(result):
                raise ConfigError(
                    f"{source}: outputs.{result}: unit {socket.unit!r}, but the pipeline writes "
                    f"{result} in {RESULT_UNITS.get(result) or 'no unit'}"
                )
        return task


MIDOG = Task(
    name="midog",
    slide=REGION_OF_INTEREST,
    outputs={"mitotic_figures": MITOTIC_FIGURES},
)

# HeLP 2019-style slide-level task; slugs as the kit's evaluation container reads them
HELP = Task(
    name="help",
    slide=WHOLE_SLIDE_IMAGE,
    outputs={
        "tumour_probability": TUMOUR_LIKELIHOOD,
        "tumour_major_axis_um": TUMOUR_MAJOR_AXIS,  # the socket's unit is the result's: micrometres
        "tumour_major_axis_line": TUMOUR_MAJOR_AXIS_LINE,
        "tumour_heatmap": TUMOUR_HEATMAP,
    },
)

# nuclei segmentation of a region of interest (MIDOG's input socket): a uint8 mask on the image's grid
NUCLEI = Task(
    name="nuclei",
    slide=REGION_OF_INTEREST,
    outputs={"nuclei_mask": NUCLEI_SEGMENTATION},
)

# a slide label from patches (the HER2 study's task): the likelihood the slide is positive, and the call
LABEL = Task(
    name="label",
    slide=WHOLE_SLIDE_IMAGE,
    outputs={"slide_likelihood": SLIDE_LABEL_LIKELIHOOD, "slide_label": SLIDE_LABEL},
)

# everything the pipeline produces from one slide
ALL = Task(name="all", slide=HELP.slide, outputs={**MIDOG.outputs, **HELP.outputs, **NUCLEI.outputs})

TASKS = {task.name: task for task in (MIDOG, HELP, NUCLEI, LABEL, ALL)}


def load_task(name: str | None = None, path: Path | None = None) -> Task:
    """A built-in task by name (midog, help, nuclei, label, all) or a task file (``--task-file``)."""
    if path is not None:
        try:
            return Task.from_dict(json.loads(Path(path).read_text()), source=str(path))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: task file not found") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    name = name or "midog"
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose one of {', '.join(TASKS)} or give --task-file")
    return TASKS[name]


def load_tasks(names: str | None = None, path: Path | None = None) -> tuple[Task, ...]:
    """One task, or several comma-separated (``midog,help``) with different input sockets.

    Several tasks are grand-challenge's algorithm interfaces: one container, each job's
    ``inputs.json`` says which socket it fills and so which task runs (``inputs.choose_task``).
    """
    if path is not None or not names or "," not in names:
        return (load_task(names, path),)
    tasks = tuple(load_task(name.strip()) for name in names.split(",") if name.strip())
    seen: dict[str, str] = {}
    for task in tasks:
        if task.slide.slug in seen:
            raise ConfigError(
                f"tasks {seen[task.slide.slug]!r} and {task.name!r} both take input socket "
                f"{task.slide.slug!r}: a job could not tell them apart; give one of them"
            )
        seen[task.slide.slug] = task.name
    return tasks
