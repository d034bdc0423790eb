"""A cohort's slide list: every slide file under a folder, or the ``slide`` column of a CSV.

Each slide gets a job id: its file name without the slide suffix, made safe for a folder
name and for grand-challenge's ``pk`` (letters, digits, ``.``, ``_``, ``-``), at most
:data:`MAX_JOB_ID` characters (a longer name is cut and ends in a digest of the whole), with
``-2``, ``-3``... after repeats, never an id another slide already has. The id names the
slide's folder under the output and its job in ``predictions.json``; it depends only on the
list, so a rerun finds the same folders.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from algorithm.errors import ConfigError, KitError
from algorithm.io.readable import readable_file
from algorithm.slide import IMAGE_SUFFIXES, SLIDE_SUFFIXES, slide_files

logger = logging.getLogger(__name__)

SLIDE_COLUMN = "slide"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# a job's folder name, its staging folder's suffix and its files' names must fit a file system's 255 bytes
MAX_JOB_ID = 120


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
    safe = safe if safe and safe[0].isalnum() else f"slide_{safe}".rstrip("_")
    if len(safe) > MAX_JOB_ID:
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        safe = f"{safe[: MAX_JOB_ID - 11].rstrip('._-')}-{digest}"
    return safe


def _with_ids(paths: list[Path]) -> list[CohortSlide]:
    taken: set[str] = set()  # case-folded: folders on a case-insensitive file system must differ too
    by_name: dict[str, list[Path]] = {}
    slides = []
    for path in paths:
        base = job = job_id(path)
        count = 1
        while job.lower() in taken:  # "a.tiff" after "a.svs" is "a-2", unless a slide is named "a-2" itself
            count += 1
            job = f"{base}-{count}"
        taken.add(job.lower())
        slides.append(CohortSlide(path, job))
        if not path.is_dir():  # a grand-challenge input folder's image is named in its inputs.json
            by_name.setdefault(base.lower(), []).append(path)
    _warn_same_names(by_name)
    return slides


def _warn_same_names(by_name: dict[str, list[Path]]) -> None:
    """Slide files whose names differ only in suffix or folder (``by_name``: the files of each base job id):
    the evaluation tells cases apart by image name without its suffix, so their predictions could not be
    scored together."""
    for paths in by_name.values():
        if len(paths) > 1:
            logger.warning(
                "%s have one name: they run as separate jobs, but the evaluation matches cases by image name "
                "and could not tell their predictions apart; rename them to score the cohort",
                " and ".join(str(p) for p in paths),
            )


def slides_in_folder(folder: Path, exclude: Path | None = None) -> list[CohortSlide]:
    """Every slide file under ``folder`` (recursively, not under ``exclude``: the output), in sorted order."""
    return _with_ids(slide_files(folder, exclude))


def slides_in_csv(path: Path) -> list[CohortSlide]:
    """The slides of a CSV's ``slide`` column, in its order; relative paths are relative to the CSV's folder."""
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
        if output is not None and output.resolve() == source.resolve():
            raise ConfigError(f"--output {output} is the input folder; write the cohort's outputs elsewhere")
        return slides_in_folder(source, output)
    if not source.exists():
        raise KitError(f"{source}: input not found (a folder of slides or a .csv with a {SLIDE_COLUMN!r} column)")
    if source.suffix.lower() != ".csv":
        raise ConfigError(f"{source}: expected a folder of slides or a .csv with a {SLIDE_COLUMN!r} column")
    return slides_in_csv(source)
