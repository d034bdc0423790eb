"""Slides with a label only (no masks, no points): a folder of slides and a ``slide,label`` CSV.

The HER2 study's data: every slide positive or negative, nothing drawn on it. The
CSV names slides by file name or stem; labels are 1/0, true/false, positive/negative
(``read_labels_csv``). Synthetic slides' ``<stem>.truth.json`` gives the scanner (the
domain patches are balanced over).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from algorithm.errors import ConfigError
from algorithm.slide import SLIDE_SUFFIXES
from training.datasets.synthetic import synthetic_domain
from training.datasets.tumour import read_labels_csv, slide_paths


@dataclass(frozen=True)
class LabelledSlide:
    """One slide file and its label (1 positive, 0 negative)."""

    path: Path
    label: int
    domain: str | None = None  # the scanner, when a synthetic truth file says

    @property
    def name(self) -> str:
        """The slide's stem: what the labels CSV and the outputs call it."""
        return self.path.stem


def read_labelled_folder(folder: str | Path, labels_csv: str | Path) -> list[LabelledSlide]:
    """The slides of ``folder`` named in ``labels_csv``, in the CSV's order; a named slide missing is an error."""
    folder = Path(folder)
    slides = slide_paths(folder)
    labels = read_labels_csv(labels_csv)
    files = {p.stem: p for p in slides}
    missing = [name for name in labels if name not in files]
    if missing:
        raise ConfigError(
            f"{labels_csv}: {len(missing)} slides not found in {folder} (e.g. {missing[0]}; "
            f"looked for {', '.join(SLIDE_SUFFIXES)})"
        )
    return [LabelledSlide(files[name], label, synthetic_domain(files[name])) for name, (label, _) in labels.items()]
