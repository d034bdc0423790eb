"""Declarative tasks: which input socket holds the slide, which results go to
which output sockets. A challenge with other slugs needs only a new ``Task``
(or a JSON file of the same shape, ``--task-file``), no code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from algorithm.errors import ConfigError

# results the pipeline can produce -> the output kinds that carry them (Heat Map: an image file, MHA)
RESULTS = {
    "mitotic_figures": "Multiple points",
    "tumour_probability": "Float",
    "tumour_major_axis_um": "Float",
    "tumour_major_axis_line": "Distance measurement",
    "tumour_heatmap": "Heat Map",
}


@dataclass(frozen=True)
class Socket:
    slug: str
    relative_path: str
    kind: str


@dataclass(frozen=True)
class Task:
    name: str
    slide: Socket  # the input image socket
    outputs: dict[str, Socket]  # result name -> output socket

    @classmethod
    def from_dict(cls, data: dict, source: str = "task") -> "Task":
        try:
            slide = Socket(**data["slide"])
            outputs = {result: Socket(**socket) for result, socket in data["outputs"].items()}
            task = cls(name=str(data.get("name", source)), slide=slide, outputs=outputs)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{source}: a task needs 'slide' and 'outputs' sockets with slug, relative_path, kind ({exc})") from exc
        unknown = sorted(set(task.outputs) - set(RESULTS))
        if unknown:
            raise ConfigError(f"{source}: unknown results {unknown}; the pipeline produces {sorted(RESULTS)}")
        return task


MIDOG = Task(
    name="midog",
    slide=Socket("histopathology-region-of-interest-cropout", "images/histopathology-roi-cropout", "Image"),
    outputs={"mitotic_figures": Socket("mitotic-figures", "mitotic-figures.json", "Multiple points")},
)

# HeLP 2019-style slide-level task; slugs as the kit's evaluation container reads them
HELP = Task(
    name="help",
    slide=Socket("whole-slide-image", "images/whole-slide-image", "Image"),
    outputs={
        "tumour_probability": Socket("tumour-likelihood", "tumour-likelihood.json", "Float"),
        "tumour_major_axis_um": Socket("tumour-major-axis", "tumour-major-axis.json", "Float"),
        "tumour_major_axis_line": Socket("tumour-major-axis-line", "tumour-major-axis-line.json",
                                         "Distance measurement"),
        "tumour_heatmap": Socket("tumour-heatmap", "images/tumour-heatmap/heatmap.mha", "Heat Map"),
    },
)

# everything the pipeline produces from one slide
ALL = Task(name="all", slide=HELP.slide, outputs={**MIDOG.outputs, **HELP.outputs})

TASKS = {task.name: task for task in (MIDOG, HELP, ALL)}


def load_task(name: str | None = None, path: Path | None = None) -> Task:
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
