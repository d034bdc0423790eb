"""Builders for grand-challenge style evaluation inputs and ground truth (used through conftest fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from evaluation.cli import main

IMAGE_SOCKET = "histopathology-region-of-interest-cropout"


class Raw(str):
    """A JSON output written verbatim (to test invalid JSON, NaN, ...)."""


def interface(slug: str, relative_path: str, kind: str = "Anything", super_kind: str = "File") -> dict[str, Any]:
    return {"slug": slug, "kind": kind, "super_kind": super_kind, "relative_path": relative_path}


def image_input(name: str, slug: str, relative_path: str) -> dict[str, Any]:
    """A job's input entry for the image ``name`` on the image socket ``slug``."""
    return {
        "file": None,
        "image": {"name": name},
        "value": None,
        "interface": interface(slug, relative_path, "Image", "Image"),
    }


def write_mask(path: Path, array: np.ndarray, spacing: tuple[float, float] | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(array)
    if spacing is not None:
        image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


class Submission:
    """An ``input/`` folder (predictions.json + job outputs), a ``ground_truth/`` folder and an ``output/`` path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.input_dir = root / "input"
        self.gt_dir = root / "ground_truth"
        self.output_dir = root / "output"
        self.input_dir.mkdir(parents=True)
        self.gt_dir.mkdir(parents=True)
        self.jobs: list[dict[str, Any]] = []

    def job(
        self,
        image: str,
        outputs: dict[str, Any] | None = None,
        *,
        status: str = "Succeeded",
        pk: str | None = None,
        inline: tuple[str, ...] = (),
        masks: dict[str, tuple[np.ndarray, tuple[float, float] | None]] | None = None,
    ) -> dict[str, Any]:
        """Add a job for input ``image``; ``outputs`` are JSON values by socket slug (files unless ``inline``)."""
        pk = pk or f"job-{len(self.jobs):04d}"
        entry: dict[str, Any] = {
            "pk": pk,
            "inputs": [image_input(image, IMAGE_SOCKET, "images/roi")],
            "outputs": [],
            "status": status,
        }
        for slug, value in (outputs or {}).items():
            rel = f"{slug}.json"
            out: dict[str, Any] = {"file": None, "image": None, "value": None, "interface": interface(slug, rel)}
            if slug in inline:
                out["value"] = value
            else:
                path = self.input_dir / pk / "output" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(value if isinstance(value, Raw) else json.dumps(value))
                out["file"] = f"https://grand-challenge.org/media/{pk}/{rel}"
            entry["outputs"].append(out)
        for slug, (array, spacing) in (masks or {}).items():
            rel = f"images/{slug}"
            write_mask(self.input_dir / pk / "output" / rel / "result.mha", array, spacing)
            entry["outputs"].append(
                {
                    "file": None,
                    "image": {"name": "result.mha"},
                    "value": None,
                    "interface": interface(slug, rel, "Segmentation", "Image"),
                }
            )
        self.jobs.append(entry)
        return entry

    def write_predictions(self, data: Any = None) -> Path:
        path = self.input_dir / "predictions.json"
        path.write_text(data if isinstance(data, Raw) else json.dumps(self.jobs if data is None else data))
        return path

    def points_truth(self, cases: dict[str, Any]) -> Path:
        path = self.gt_dir / "points.json"
        path.write_text(json.dumps(cases))
        return path

    def slides_csv(self, text: str) -> Path:
        path = self.gt_dir / "slides.csv"
        path.write_text(text)
        return path

    def config(self, config: dict[str, Any]) -> Path:
        path = self.gt_dir / "config.json"
        path.write_text(json.dumps(config))
        return path

    def truth_mask(self, name: str, array: np.ndarray, spacing: tuple[float, float] | None) -> Path:
        return write_mask(self.gt_dir / "masks" / name, array, spacing)

    def run(self, *extra: str) -> int:
        """``python -m evaluation`` in-process on these folders."""
        return main(
            [
                "--input",
                str(self.input_dir),
                "--ground-truth",
                str(self.gt_dir),
                "--output",
                str(self.output_dir),
                "--quiet",
                *extra,
            ]
        )

    @property
    def metrics_path(self) -> Path:
        return self.output_dir / "metrics.json"

    def metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_path.read_text())


def point(x: float, y: float, probability: Any = 0.9, name: str = "mitotic figure") -> dict[str, Any]:
    # probability: Any, as tests hand the evaluation strings and booleans to reject
    return {"point": [x, y, 0], "probability": probability, "name": name}


def points_value(*points: Any) -> dict[str, Any]:
    # points: Any, as tests hand the evaluation lists and other non-objects to reject
    return {"type": "Multiple points", "points": list(points), "version": {"major": 1, "minor": 0}}
