"""Folders of synthetic slides (``python -m training synth``) as annotated slides.

Each ``<name>.midog.json`` is a one-image MIDOG database; the scanner named in
``<name>.truth.json`` is the slide's domain, and its ``confounders`` (pyknotic,
apoptotic, plasma cells, lymphocyte clusters...: look-alikes the MIDOG file
leaves out) the slide's confounder centres and kinds, for the sampler's negative
patches and for naming what a detector's false calls sit on; its ``mitoses`` give
each figure's phase and whether it lies in tumour, for naming the figures a
detector misses. Slides written before confounders existed have none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from algorithm.errors import ConfigError
from algorithm.io.readable import readable_folder
from training.datasets.annotations import SlideAnnotations
from training.datasets.midog import read_midog_database


def synthetic_domain(slide: Path) -> str | None:
    """The scanner of a synthetic slide (from its ``<stem>.truth.json``), None for other slides."""
    truth = slide.with_name(f"{slide.stem}.truth.json")
    return str(json.loads(truth.read_text())["scanner"]["name"]) if truth.is_file() else None


def read_synthetic_folder(folder: str | Path) -> list[SlideAnnotations]:
    """Every slide of a ``python -m training synth`` folder, annotated, its scanner as the domain and its truth's
    confounders as ``confounders`` (their kinds as ``confounder_kinds``), its figures' phases and places as
    ``mitosis_kinds``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: slide folder not found")
    databases = sorted(readable_folder(folder).glob("*.midog.json"))
    if not databases:
        raise ConfigError(f"{folder}: no *.midog.json annotation files (make slides with: python -m training synth)")
    slides = []
    for db in databases:
        (slide,) = read_midog_database(db)
        truth = db.with_name(db.name.replace(".midog.json", ".truth.json"))
        if truth.is_file():
            doc = json.loads(truth.read_text())
            slide.domain = doc["scanner"]["name"]
            slide.confounders, slide.confounder_kinds = _confounders(truth, doc.get("confounders", []))
            slide.mitosis_kinds = _mitosis_kinds(truth, doc.get("mitoses", []), slide.mitoses)
        if slide.path is None or not slide.path.is_file():
            raise ConfigError(f"{db}: its slide {slide.file_name} is not in {folder}")
        slides.append(slide)
    return slides


def _confounders(truth: Path, entries: list[dict[str, Any]]) -> tuple[NDArray[np.float64], list[str]]:
    """The ``(x, y)`` level-0 centres of a truth file's confounder entries, (M, 2), and their kinds."""
    return _centres(truth, entries, "confounder"), [str(e.get("kind", "confounder")) for e in entries]


def _centres(truth: Path, entries: list[dict[str, Any]], what: str) -> NDArray[np.float64]:
    """The ``(x, y)`` level-0 centres of a truth file's entries of one kind (``what``), (M, 2)."""
    try:
        return np.array([[float(e["x"]), float(e["y"])] for e in entries], dtype=np.float64).reshape(-1, 2)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{truth}: a {what} entry without a numeric x and y ({exc!r})") from exc


def _mitosis_kinds(truth: Path, entries: list[dict[str, Any]], mitoses: NDArray[np.float64]) -> list[str]:
    """``"<phase>, in tumour"`` or ``"<phase>, outside tumour"`` for each of ``mitoses`` (the MIDOG file's centres),
    from the truth's entry within a pixel of it (a MIDOG box is centred on its figure to the nearest pixel); empty
    where the truth records no phases (files of older versions)."""
    if not entries or any("phase" not in e for e in entries):
        return []
    centres = _centres(truth, entries, "mitosis")
    if len(centres) != len(mitoses):
        raise ConfigError(f"{truth}: {len(centres)} mitoses, but its MIDOG file boxes {len(mitoses)}")
    kinds = []
    for point in mitoses:
        distances = np.hypot(*(centres - point).T)  # not empty: as many entries as mitoses
        nearest = int(distances.argmin())
        if distances[nearest] > 1.0:
            raise ConfigError(f"{truth}: no mitosis entry at the MIDOG box centred on {point.tolist()}")
        entry = entries[nearest]
        kinds.append(f"{entry['phase']}, {'in' if entry.get('in_tumour') else 'outside'} tumour")
    return kinds
