"""Slides with tumour masks, for the segmenter and the slide models.

A folder of slides, each with a tumour mask image covering the whole slide at
any lower resolution (its downsample is the slide's size over the mask's):
``<stem>.tumour-mask.png`` (what ``python -m training synth`` writes),
``<stem>.mask.png`` or ``<stem>.png``, beside the slide or in a masks folder.
Non-zero mask pixels are tumour. A slide with an empty mask is a normal
slide; its tumour major axis is measured on the mask as HeLP measured it.
Synthetic slides' ``<stem>.truth.json`` also gives the scanner (the domain).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from algorithm.errors import ConfigError
from algorithm.features import major_axis
from algorithm.io.atomic import write_bytes_atomic
from algorithm.io.readable import readable_file
from algorithm.slide import SLIDE_SUFFIXES, open_slide
from training.datasets.synthetic import synthetic_domain
from training.synth.nuclei_mask import NUCLEI_MASK_SUFFIX

MASK_NAMES = ("{stem}.tumour-mask.png", "{stem}.mask.png", "{stem}.png")
LABELS_HEADER = ("slide", "label", "major_axis_um")


@dataclass
class TumourSlide:
    """A slide and its tumour mask; label, axis and mask are read from the mask when first asked for."""

    path: Path
    mask_path: Path
    width: int
    height: int
    mpp: float
    domain: str | None = None

    @property
    def name(self) -> str:
        """The slide's file name without its suffix: how heatmaps and label rows name it."""
        return self.path.stem

    @cached_property
    def mask(self) -> NDArray[np.bool_]:
        """The tumour mask as booleans, read once (masks cover the whole slide at a lower resolution)."""
        readable_file(self.mask_path)
        try:
            with Image.open(self.mask_path) as image:
                return np.asarray(image.convert("L")) > 0
        except OSError as exc:
            raise ConfigError(f"{self.mask_path}: cannot read the tumour mask ({exc})") from exc

    @property
    def mask_downsample(self) -> tuple[float, float]:
        """Level-0 pixels per mask pixel, (x, y): the slide's size over the mask's."""
        h, w = self.mask.shape
        return self.width / w, self.height / h

    @cached_property
    def label(self) -> int:
        """1 for a tumour slide (any tumour pixel in its mask), 0 for a normal one."""
        return int(self.mask.any())

    @property
    def major_axis_um(self) -> float:
        """HeLP's truth: the major axis of the largest tumour region, in micrometres."""
        sx, sy = self.mask_downsample
        return major_axis(self.mask, largest="area").length_px * (sx + sy) / 2 * self.mpp


def _find_mask(slide: Path, masks: Path | None) -> Path | None:
    for folder in (masks, slide.parent) if masks else (slide.parent,):
        for pattern in MASK_NAMES:
            candidate = folder / pattern.format(stem=slide.stem)
            if candidate.is_file() and candidate != slide:
                return candidate
    return None


def slide_paths(folder: Path) -> list[Path]:
    """The slide files of a training folder, sorted (not its subfolders'); not the nuclei mask that a
    synthetic slide has beside it as a TIFF (``synth --nuclei-masks``)."""
    if not folder.is_dir():
        raise ConfigError(f"{folder}: slide folder not found")
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.lower().endswith(SLIDE_SUFFIXES) and not p.stem.endswith(NUCLEI_MASK_SUFFIX)
    )


def read_tumour_folder(folder: str | Path, masks: str | Path | None = None) -> list[TumourSlide]:
    """Every slide in ``folder`` with its tumour mask; a slide without one is an error."""
    folder = Path(folder)
    masks = Path(masks) if masks else None
    paths = slide_paths(folder)
    if not paths:
        raise ConfigError(f"{folder}: no slides (looked for {', '.join(SLIDE_SUFFIXES)})")
    slides = []
    for path in paths:
        mask = _find_mask(path, masks)
        if mask is None:
            where = masks or folder
            raise ConfigError(
                f"{path}: no tumour mask in {where} (looked for "
                f"{', '.join(p.format(stem=path.stem) for p in MASK_NAMES)})"
            )
        with open_slide(path) as slide:
            (width, height), mpp = slide.dimensions, slide.mpp_at(1.0)
        item = TumourSlide(path, mask, width, height, mpp, synthetic_domain(path))
        sx, sy = item.mask_downsample
        if abs(sx - sy) > 0.02 * max(sx, sy):
            raise ConfigError(
                f"{mask}: mask of {item.mask.shape[1]}x{item.mask.shape[0]} px does not have the "
                f"shape of its slide ({width}x{height} px)"
            )
        slides.append(item)
    return slides


def write_labels_csv(path: Path, rows: list[tuple[str, int, float]]) -> None:
    """``slide,label,major_axis_um`` per slide (label 1 tumour, 0 normal)."""
    lines = [",".join(LABELS_HEADER)] + [f"{name},{label},{axis:.3f}" for name, label, axis in rows]
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode())


def read_labels_csv(path: str | Path) -> dict[str, tuple[int, float | None]]:
    """``slide`` -> (label, major axis in um or None). Labels: 1/0, tumour/normal, positive/negative, true/false."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: labels file not found")
    truthy = {"1": 1, "tumour": 1, "tumor": 1, "true": 1, "positive": 1, "0": 0, "normal": 0, "false": 0, "negative": 0}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "slide" not in reader.fieldnames or "label" not in reader.fieldnames:
            raise ConfigError(f"{path}: needs a header with 'slide' and 'label' columns (and optionally major_axis_um)")
        labels: dict[str, tuple[int, float | None]] = {}
        for line, row in enumerate(reader, start=2):
            key = Path(row["slide"].strip()).stem
            value = str(row["label"]).strip().lower()
            if value not in truthy:
                raise ConfigError(
                    f"{path}, line {line}: label {row['label']!r} is not 1/0, tumour/normal, "
                    "positive/negative or true/false"
                )
            axis_text = (row.get("major_axis_um") or "").strip()
            try:
                axis = float(axis_text) if axis_text else None
            except ValueError as exc:
                raise ConfigError(f"{path}, line {line}: major_axis_um {axis_text!r} is not a number") from exc
            labels[key] = (truthy[value], axis)
    if not labels:
        raise ConfigError(f"{path}: no rows")
    return labels
