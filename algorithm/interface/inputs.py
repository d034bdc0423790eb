"""Finding the slide a job should process.

Three layouts, tried in order:
1. ``<input>/inputs.json`` (grand-challenge's current contract): a list of socket
   values; the task's image socket names a folder ``<input>/<relative_path>/``
   holding exactly one image file.
2. The older layout: ``<input>/images/<folder>/`` with one image (MIDOG's containers).
3. ``--input`` pointing at a slide file directly (local use).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from algorithm.errors import ConfigError, KitError
from algorithm.interface.tasks import Task
from algorithm.slide import SLIDE_SUFFIXES


@dataclass(frozen=True)
class JobInput:
    slide: Path
    name: str  # the image's name on the platform (or the file name)


def _one_image(folder: Path, what: str) -> Path:
    if not folder.is_dir():
        raise KitError(f"{folder}: {what} folder not found")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(SLIDE_SUFFIXES))
    if not images:
        raise KitError(f"{folder}: no image file in the {what} folder (looked for {', '.join(SLIDE_SUFFIXES)})")
    if len(images) > 1:
        raise KitError(f"{folder}: {len(images)} images in the {what} folder; expected one")
    return images[0]


def _from_inputs_json(root: Path, task: Task) -> JobInput:
    path = root / "inputs.json"
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a list of socket values, got {type(entries).__name__}")
    slugs = []
    for index, entry in enumerate(entries):
        try:
            slugs.append(str(entry["interface"]["slug"]))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: entry {index} has no interface.slug") from exc
    unknown = [s for s in slugs if s != task.slide.slug]
    if unknown:
        raise ConfigError(f"{path}: unknown input socket {unknown[0]!r}; task {task.name!r} takes {task.slide.slug!r}")
    if task.slide.slug not in slugs:
        raise ConfigError(f"{path}: no value for input socket {task.slide.slug!r}")
    entry = entries[slugs.index(task.slide.slug)]
    relative = entry["interface"].get("relative_path") or task.slide.relative_path
    slide = _one_image(root / relative, f"{task.slide.slug!r} input")
    image = entry.get("image") or {}
    return JobInput(slide=slide, name=str(image.get("name") or slide.name))


def find_input(root: Path, task: Task) -> JobInput:
    if root.is_file():
        return JobInput(slide=root, name=root.name)
    if not root.exists():
        raise KitError(f"{root}: input not found")
    if (root / "inputs.json").is_file():
        return _from_inputs_json(root, task)
    legacy = root / task.slide.relative_path
    if legacy.is_dir():
        slide = _one_image(legacy, "input image")
        return JobInput(slide=slide, name=slide.name)
    images = root / "images"
    if images.is_dir():
        folders = [p for p in sorted(images.iterdir()) if p.is_dir()]
        if len(folders) == 1:
            slide = _one_image(folders[0], "input image")
            return JobInput(slide=slide, name=slide.name)
    raise KitError(f"{root}: no inputs.json and no image under {task.slide.relative_path}/ or images/<folder>/")
