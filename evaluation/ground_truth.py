"""Ground truth: documented simple formats in one folder, keyed by case.

A case is identified by its input image's name with the image extension
removed (:func:`case_id`): ``"007.tiff"`` and ``"007"`` are the same case, so
ground-truth files may use either spelling and masks are ``masks/007.mha``.

Files (only those the enabled metrics need are read):

``points.json`` (detection)
    ``{"007.tiff": {"points": [[x_mm, y_mm], ...], "domain": "canine lymphoma",
    "size_mm": [width_mm, height_mm]}, ...}``. ``domain`` and ``size_mm`` are
    optional; a bare list of points is also accepted. MIDOG's own
    ``ground_truth.json`` keys ``"annotations"`` and ``"tumor domain"`` are
    accepted as aliases; other keys are ignored. Points may carry a third (z)
    coordinate, which is ignored as MIDOG does.
``slides.csv`` or ``slides.json`` (classification, major axis)
    CSV with a header ``case,label,major_axis_mm[,domain]`` (columns a task does
    not use may be left out: ``case,label`` for classification alone, the
    HER2 task's), or JSON ``{"007.tiff": {"label": 1,
    "major_axis_mm": 12.5}, ...}``. ``label`` is 0 or 1. A ``major_axis_mm``
    of 0 or empty (a normal slide: no tumour, no axis) leaves the case out of
    the major-axis metric.
``masks/<case>.<ext>`` (segmentation)
    One single-channel image per case (``.mha``, ``.mhd``, ``.nrrd``, ``.nii``,
    ``.nii.gz``, ``.tif``, ``.tiff``, ``.png``); non-zero is foreground. Pixel
    spacing is read from the file (``.mha`` spacing, TIFF resolution tags).
"""

from __future__ import annotations

import contextlib
import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.config import Config
from evaluation.errors import EvaluationError
from evaluation.files import read_json

POINTS_FILE = "points.json"
SLIDES_CSV = "slides.csv"
SLIDES_JSON = "slides.json"
MASKS_DIR = "masks"

# Longest first so ".nii.gz" wins over ".gz"-less matches.
IMAGE_SUFFIXES = (
    ".nii.gz",
    ".tiff",
    ".tif",
    ".svs",
    ".ndpi",
    ".mrxs",
    ".scn",
    ".bif",
    ".vms",
    ".vsi",
    ".mha",
    ".mhd",
    ".nrrd",
    ".nii",
    ".png",
    ".jpeg",
    ".jpg",
    ".dcm",
)
MASK_SUFFIXES = (".nii.gz", ".mha", ".mhd", ".nrrd", ".nii", ".tiff", ".tif", ".png")


def case_id(name: str) -> str:
    """The case an image name refers to: the name without one known image extension."""
    lower = name.lower()
    for suffix in IMAGE_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class CaseTruth:
    """Everything known about one case; fields a task does not use are None."""

    case: str
    points_mm: np.ndarray | None = None  # (n, 2) x, y in millimetres
    domain: str | None = None
    size_mm: tuple[float, float] | None = None  # (width, height) of the image
    label: int | None = None
    major_axis_mm: float | None = None
    mask_path: Path | None = None


@dataclass(frozen=True)
class GroundTruth:
    """Every case of the ground truth, checked to be the same cases in every file read."""

    directory: Path
    cases: dict[str, CaseTruth]  # by case id, sorted
    source: str  # the files read, for messages ("points.json", ...)


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _parse_points(raw: Any, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise EvaluationError(f"{where}: points must be a list of [x_mm, y_mm] pairs, got {type(raw).__name__}")
    out = np.empty((len(raw), 2), dtype=np.float64)
    for i, p in enumerate(raw):
        if (
            type(p) is not list
            or not 2 <= len(p) <= 3
            or any(type(v) not in (int, float) for v in p)
            or not all(math.isfinite(v) for v in p)
        ):
            raise EvaluationError(
                f"{where}: point {i} must be [x_mm, y_mm] or [x_mm, y_mm, z] with finite numbers, got {p!r}"
            )
        out[i, 0] = p[0]
        out[i, 1] = p[1]
    return out


def _domain(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise EvaluationError(f"{where}: domain must be a string or an integer, got {value!r}")
    return str(value)


def _index(raw: Any, path: Path) -> dict[str, tuple[str, Any]]:
    """``{case id: (name as written, entry)}``; two spellings of one case are an error."""
    if not isinstance(raw, dict):
        raise EvaluationError(f"{path}: expected a JSON object keyed by image name, got {type(raw).__name__}")
    out: dict[str, tuple[str, Any]] = {}
    for name, entry in raw.items():
        cid = case_id(name)
        if cid in out:
            raise EvaluationError(f"{path}: '{out[cid][0]}' and '{name}' are the same case '{cid}'")
        out[cid] = (name, entry)
    return out


def _load_points(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for cid, (name, entry) in _index(read_json(path), path).items():
        where = f"{path}: case '{name}'"
        if isinstance(entry, list):
            entry = {"points": entry}
        if not isinstance(entry, dict):
            raise EvaluationError(f"{where}: expected an object with 'points', got {type(entry).__name__}")
        key = "points" if "points" in entry else "annotations" if "annotations" in entry else None
        if key is None:
            raise EvaluationError(f"{where}: no 'points' list")
        points = _parse_points(entry[key], where)
        domain = _domain(entry.get("domain", entry.get("tumor domain")), where)
        size = entry.get("size_mm")
        size_mm = None
        if size is not None:
            if not isinstance(size, list) or len(size) != 2 or not all(_finite(v) and v > 0 for v in size):
                raise EvaluationError(
                    f"{where}: size_mm must be [width_mm, height_mm] (positive numbers), got {size!r}"
                )
            size_mm = (float(size[0]), float(size[1]))
            if len(points) and (points.min() < 0 or np.any(points.max(axis=0) > size_mm)):
                raise EvaluationError(f"{where}: a ground-truth point lies outside size_mm {list(size_mm)}")
        out[cid] = {"points_mm": points, "domain": domain, "size_mm": size_mm}
    return out


def _label(value: Any, where: str) -> int:
    if isinstance(value, str):
        value = value.strip()
        if value in ("0", "1"):
            return int(value)
    elif isinstance(value, bool) or isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    raise EvaluationError(f"{where}: label must be 0 or 1, got {value!r}")


def _length(value: Any, where: str) -> float | None:
    """A positive length, or None for "no tumour, no axis to score" (empty or 0)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # not a number: reported below with the text as given
            value = float(value)
    if not _finite(value) or value < 0:
        raise EvaluationError(
            f"{where}: major_axis_mm must be a positive number (or 0 / empty for no tumour), got {value!r}"
        )
    return float(value) or None


def _load_slides(path: Path, need: set[str]) -> dict[str, dict[str, Any]]:
    """Slide table from CSV or JSON; ``need`` names the columns the metrics use."""
    rows: dict[str, tuple[str, dict[str, Any]]] = {}
    if path.suffix == ".csv":
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                header = [h.strip() for h in (reader.fieldnames or [])]
                if "case" not in header:
                    raise EvaluationError(f"{path}: the header must have a 'case' column, got {header}")
                for line, row in enumerate(reader, start=2):
                    row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                    name = row.get("case", "")
                    if not name:
                        raise EvaluationError(f"{path}: line {line}: empty case name")
                    cid = case_id(name)
                    if cid in rows:
                        raise EvaluationError(f"{path}: line {line}: case '{name}' appears twice")
                    rows[cid] = (name, {k: v for k, v in row.items() if k != "case" and v != ""})
        except UnicodeDecodeError as exc:
            raise EvaluationError(f"{path}: not UTF-8 text") from exc
    else:
        for cid, (name, entry) in _index(read_json(path), path).items():
            if not isinstance(entry, dict):
                raise EvaluationError(f"{path}: case '{name}': expected an object, got {type(entry).__name__}")
            rows[cid] = (name, entry)
    out: dict[str, dict[str, Any]] = {}
    for cid, (name, row) in rows.items():
        where = f"{path}: case '{name}'"
        missing = sorted(c for c in need if row.get(c) is None and c != "major_axis_mm")
        if missing:
            raise EvaluationError(f"{where}: missing {', '.join(missing)}")
        out[cid] = {
            "label": _label(row["label"], where) if "label" in need else None,
            "major_axis_mm": _length(row.get("major_axis_mm"), where) if "major_axis_mm" in need else None,
            "domain": _domain(row.get("domain"), where),
        }
    if "major_axis_mm" in need and all(row["major_axis_mm"] is None for row in out.values()):
        raise EvaluationError(f"{path}: no case has a major_axis_mm (the major_axis metric needs some)")
    return out


def _mask_case(file_name: str) -> str | None:
    lower = file_name.lower()
    for suffix in MASK_SUFFIXES:
        if lower.endswith(suffix) and len(file_name) > len(suffix):
            return case_id(file_name[: -len(suffix)])
    return None


def _load_masks(directory: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() in (".raw", ".zraw"):
            continue  # hidden files; .mhd data files
        cid = _mask_case(path.name)
        if cid is None or not path.is_file():
            raise EvaluationError(f"{path}: not a mask file (expected one of {', '.join(MASK_SUFFIXES)})")
        if cid in out:
            raise EvaluationError(f"{directory}: two masks for case '{cid}': {out[cid].name} and {path.name}")
        out[cid] = path
    return out


def load_ground_truth(directory: Path, config: Config) -> GroundTruth:
    """Read the files the enabled metrics need and check they describe the same cases."""
    if not directory.is_dir():
        raise EvaluationError(f"ground-truth folder not found: {directory}")
    tables: dict[str, dict[str, dict[str, Any]]] = {}  # source name -> case -> fields
    if "detection" in config.metrics:
        path = directory / POINTS_FILE
        if not path.is_file():
            raise EvaluationError(f"detection needs {path} (points per image in millimetres)")
        tables[POINTS_FILE] = _load_points(path)
    need = {c for m, c in (("classification", "label"), ("major_axis", "major_axis_mm")) if m in config.metrics}
    if need:
        csv_path, json_path = directory / SLIDES_CSV, directory / SLIDES_JSON
        if csv_path.is_file() and json_path.is_file():
            raise EvaluationError(f"{directory}: both {SLIDES_CSV} and {SLIDES_JSON} exist; keep one")
        path = csv_path if csv_path.is_file() else json_path
        if not path.is_file():
            raise EvaluationError(f"{' and '.join(sorted(need))} need {csv_path} or {json_path}")
        tables[path.name] = _load_slides(path, need)
    if "segmentation" in config.metrics:
        masks_dir = directory / MASKS_DIR
        if not masks_dir.is_dir():
            raise EvaluationError(f"segmentation needs the folder {masks_dir} (one mask per case)")
        tables[MASKS_DIR + "/"] = {cid: {"mask_path": p} for cid, p in _load_masks(masks_dir).items()}

    all_cases = sorted(set().union(*(t.keys() for t in tables.values())))
    if not all_cases:
        raise EvaluationError(f"{directory}: the ground truth has no cases")
    for source, table in tables.items():
        missing = [c for c in all_cases if c not in table]
        if missing:
            raise EvaluationError(
                f"ground truth {source} has no entry for case(s) {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''} that other ground-truth files list"
            )
    cases: dict[str, CaseTruth] = {}
    for cid in all_cases:
        fields: dict[str, Any] = {}
        for table in tables.values():
            for key, value in table[cid].items():
                if value is not None and fields.get(key) is None:
                    fields[key] = value
        cases[cid] = CaseTruth(case=cid, **fields)
    return GroundTruth(directory=directory, cases=cases, source=", ".join(tables))
