"""A cohort's slide list: every slide file under a folder, or the ``slide`` column of a CSV.

Each slide gets a job id: its file name without the slide suffix, made safe for a folder
name and for grand-challenge's ``pk`` (letters, digits, ``.``, ``_``, ``-``), with ``-2``,
``-3``... after repeats. The id names the slide's folder under the output and its job in
``predictions.json``; it depends only on the list, so a rerun finds the same folders.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from algorithm.errors import ConfigError, KitError
from algorithm.io.readable import readable_file
from algorithm.slide import IMAGE_SUFFIXES, SLIDE_SUFFIXES, slide_files

SLIDE_COLUMN = "slide"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CohortSlide:
    """One slide of a cohort: the job's input (a slide file, or a grand-challenge input folder) and its job id."""

    path: Path
    job: str


def job_id(path: Path) -> str:
    """A slide's job id before de-duplication: its name less the slide suffix, unsafe characters as ``_``."""
    name = path.name
    for suffix in sorted(SLIDE_SUFFIXES + IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    safe = _UNSAFE.sub("_", name).strip("._-")
    return safe if safe and safe[0].isalnum() else f"slide_{safe}".rstrip("_")


def _with_ids(paths: list[Path]) -> list[CohortSlide]:
    seen: dict[str, int] = {}
    slides = []
    for path in paths:
        base = job_id(path)
        count = seen.get(base.lower(), 0) + 1
        seen[base.lower()] = count
        slides.append(CohortSlide(path, base if count == 1 else f"{base}-{count}"))
    return slides


def slides_in_folder(folder: Path, exclude: Path | None = None) -> list[CohortSlide]:
    """Every slide file under ``folder`` (recursively, not under ``exclude``: the output), in sorted order."""
    return _with_ids(slide_files(folder, exclude))


def slides_in_csv(path: Path) -> list[CohortSlide]:
    """The slides of a CSV's ``slide`` column, in its order; relative paths are relative to the CSV's folder."""
    if path.is_file():
        readable_file(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.DictReader(file)
            columns = [c.strip() for c in reader.fieldnames or []]
            if SLIDE_COLUMN not in columns:
                listed = ", ".join(repr(c) for c in columns) or "none"
                raise ConfigError(f"{path}: no {SLIDE_COLUMN!r} column (columns: {listed})")
            key = (reader.fieldnames or [])[columns.index(SLIDE_COLUMN)]
            values = [(reader.line_num, (row.get(key) or "").strip()) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read the slide list ({exc})") from exc
    if not values:
        raise ConfigError(f"{path}: no slides listed")
    for line, value in values:
        if not value:
            raise ConfigError(f"{path}: line {line}: empty {SLIDE_COLUMN!r} cell")
    return _with_ids([(path.parent / value) if not Path(value).is_absolute() else Path(value) for _, value in values])


def list_slides(source: Path, output: Path | None = None) -> list[CohortSlide]:
    """The cohort given on the command line: a folder of slides (less any under ``output``, the cohort's
    own outputs) or a ``.csv`` with a ``slide`` column."""
    if source.is_dir():
        return slides_in_folder(source, output)
    if not source.exists():
        raise KitError(f"{source}: input not found (a folder of slides or a .csv with a {SLIDE_COLUMN!r} column)")
    if source.suffix.lower() != ".csv":
        raise ConfigError(f"{source}: expected a folder of slides or a .csv with a {SLIDE_COLUMN!r} column")
    return slides_in_csv(source)
