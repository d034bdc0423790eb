"""Folders of synthetic slides (``python -m training synth``) as annotated slides.

Each ``<name>.midog.json`` is a one-image MIDOG database; the scanner named in
``<name>.truth.json`` is the slide's domain.
"""

from __future__ import annotations

import json
from pathlib import Path

from algorithm.errors import ConfigError
from training.datasets.annotations import SlideAnnotations
from training.datasets.midog import read_midog_database


def read_synthetic_folder(folder: str | Path) -> list[SlideAnnotations]:
    """Every slide of a ``python -m training synth`` folder, annotated, its scanner as the domain."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: slide folder not found")
    databases = sorted(folder.glob("*.midog.json"))
    if not databases:
        raise ConfigError(f"{folder}: no *.midog.json annotation files (make slides with: python -m training synth)")
    slides = []
    for db in databases:
        (slide,) = read_midog_database(db)
        truth = db.with_name(db.name.replace(".midog.json", ".truth.json"))
        if truth.is_file():
            slide.domain = json.loads(truth.read_text())["scanner"]["name"]
        if slide.path is None or not slide.path.is_file():
            raise ConfigError(f"{db}: its slide {slide.file_name} is not in {folder}")
        slides.append(slide)
    return slides
