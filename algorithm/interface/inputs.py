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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from algorithm.errors import ConfigError, KitError
from algorithm.interface.tasks import Task
from algorithm.slide import SLIDE_SUFFIXES
from algorithm.slide.dicom_reader import is_dicom_file


@dataclass(frozen=True)
class JobInput:
    """The slide a job reads (a file, or a DICOM series folder) and its name on the platform."""

    slide: Path
    name: str  # the image's name on the platform (or the file name)


def _one_image(folder: Path, what: str) -> Path:
    """The folder's one image file, or the folder itself when it holds a DICOM series (one slide's
    instances, suffixed .dcm or not)."""
    if not folder.is_dir():
        raise KitError(f"{folder}: {what} folder not found")
    files = [p for p in folder.iterdir() if p.is_file()]
    images = sorted(p for p in files if p.name.lower().endswith(SLIDE_SUFFIXES))
    dicom = [p for p in files if is_dicom_file(p)]
    if len(dicom) > 1 or (dicom and not images):
        others = [p.name for p in images if p not in dicom]
        if others:
            raise KitError(
                f"{folder}: a DICOM series and other images ({', '.join(others)}) in the {what} "
                "folder; expected one slide"
            )
        return folder
    if not images:
        raise KitError(f"{folder}: no image file in the {what} folder (looked for {', '.join(SLIDE_SUFFIXES)})")
    if len(images) > 1:
        raise KitError(f"{folder}: {len(images)} images in the {what} folder; expected one")
    return images[0]


def _socket_slugs(path: Path) -> tuple[list, list[str]]:
    """The entries of an inputs.json and the socket slug of each."""
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
    return entries, slugs


def _from_inputs_json(root: Path, task: Task) -> JobInput:
    path = root / "inputs.json"
    entries, slugs = _socket_slugs(path)
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
    """The job's slide under ``root``: a plain file, an ``inputs.json`` naming ``task``'s socket, or the
    legacy layouts (the socket's folder, or a single ``images/<folder>/``); KitError naming what is wrong."""
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


def choose_task(root: Path, tasks: Sequence[Task]) -> Task:
    """Which of a container's tasks a job's inputs are for: the one whose input socket they fill.

    One task: that one, whatever the inputs (``find_input`` then says what is wrong with them).
    """
    if len(tasks) == 1:
        return tasks[0]
    if not root.exists():
        raise KitError(f"{root}: input not found")
    names = ", ".join(task.name for task in tasks)
    takes = ", ".join(repr(task.slide.slug) for task in tasks)
    if root.is_dir() and (root / "inputs.json").is_file():
        _, slugs = _socket_slugs(root / "inputs.json")
        matching = [task for task in tasks if task.slide.slug in slugs]
        if len(matching) == 1:
            return matching[0]
        if not matching:
            known = {task.slide.slug for task in tasks}
            unknown = [slug for slug in slugs if slug not in known]
            what = f"unknown input socket {unknown[0]!r}" if unknown else "no input socket"
            raise ConfigError(f"{root / 'inputs.json'}: {what}; tasks {names} take {takes}")
        raise ConfigError(
            f"{root / 'inputs.json'}: values for the sockets of several tasks "
            f"({', '.join(task.name for task in matching)}); one job is one task"
        )
    if root.is_dir():
        matching = [task for task in tasks if (root / task.slide.relative_path).is_dir()]
        if len(matching) == 1:
            return matching[0]
    raise KitError(
        f"{root}: cannot tell which task ({names}) this input is for: "
        f"no inputs.json naming one of {takes}; give one --task"
    )
