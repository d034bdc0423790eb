"""The task config: which metrics to compute, from which output sockets, with which parameters.

A small JSON file (``--config``, else ``config.json`` in the ground-truth folder,
else the built-in MIDOG-style defaults below). Every key is optional; unknown
keys are errors so a typo cannot silently fall back to a default::

    {
      "metrics": ["detection", "classification", "segmentation", "major_axis"],
      "case_input": null,
      "ignore_outputs": [],
      "detection": {"socket": "mitotic-figures", "radius_mm": 0.0075, "threshold": null},
      "classification": {"socket": "tumour-likelihood", "threshold": 0.5},
      "segmentation": {"socket": "nuclei-segmentation"},
      "major_axis": {"socket": "tumour-major-axis", "tolerance": 0.05, "unit": "mm"}
    }

See ``evaluation/README.md`` for every key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.errors import EvaluationError
from evaluation.files import read_json

METRIC_NAMES = ("detection", "classification", "segmentation", "major_axis")
LENGTH_UNITS = {"mm": 1.0, "um": 1e-3}  # millimetres per unit
CONFIG_FILE_NAME = "config.json"


@dataclass(frozen=True)
class DetectionConfig:
    """Point detection (MIDOG).

    ``threshold`` None is MIDOG's rule: the point's ``name`` alone decides what
    counts for F1 (the algorithm already applied its own threshold when naming
    points). A number additionally requires ``probability >= threshold``.
    """

    socket: str = "mitotic-figures"
    radius_mm: float = 0.0075
    positive_name: str = "mitotic figure"
    negative_names: tuple[str, ...] = ("non-mitotic figure",)
    threshold: float | None = None
    # Used when the ground truth gives no image size: no point on a glass slide
    # (75 x 25 mm, large format 75 x 50 mm) lies further from the corner.
    max_coordinate_mm: float = 100.0
    froc_fp_rates: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class ClassificationConfig:
    """Slide classification from a likelihood in [0, 1] (HeLP tumour, HER2 positive)."""

    socket: str = "tumour-likelihood"
    threshold: float = 0.5
    bootstrap_samples: int = 1000
    confidence_level: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class SegmentationConfig:
    """Binary segmentation masks; float masks are foreground where ``value >= threshold``."""

    socket: str = "nuclei-segmentation"
    threshold: float = 0.5


@dataclass(frozen=True)
class MajorAxisConfig:
    """Major-axis length (HeLP); correct within ``tolerance`` relative error. ``unit``: what the
    algorithm writes, "mm" or "um" (the kit's algorithm writes micrometres); truth is always in mm."""

    socket: str = "tumour-major-axis"
    tolerance: float = 0.05
    unit: str = "mm"


@dataclass(frozen=True)
class Config:
    metrics: tuple[str, ...] = ("detection",)
    # Input socket slug whose image name identifies the case; None: the job's only image input.
    case_input: str | None = None
    # Output sockets the algorithm may produce that this evaluation does not score.
    ignore_outputs: tuple[str, ...] = ()
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    classification: ClassificationConfig = field(default_factory=ClassificationConfig)
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    major_axis: MajorAxisConfig = field(default_factory=MajorAxisConfig)

    def sockets(self) -> dict[str, str]:
        """Output socket slug of each enabled metric, in ``metrics`` order."""
        return {name: getattr(self, name).socket for name in self.metrics}


def _fail(where: str, message: str) -> EvaluationError:
    return EvaluationError(f"{where}: {message}" if where else message)


def _number(value: Any, where: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, f"expected a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise _fail(where, f"must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise _fail(where, f"must be <= {high}, got {value!r}")
    return float(value)


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, f"expected a non-empty string, got {value!r}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(where, f"expected a list of strings, got {value!r}")
    return tuple(_string(v, f"{where}[{i}]") for i, v in enumerate(value))


def _convert(cls: type, raw: Any, where: str) -> Any:
    """Build a section dataclass from a JSON object, checking each key's type."""
    if not isinstance(raw, dict):
        raise _fail(where, f"expected an object, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown}; known keys: {sorted(known)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        w = f"{where}.{key}"
        if key == "socket":
            values[key] = _string(value, w)
        elif key == "radius_mm":
            values[key] = _number(value, w, low=0.0, low_open=True)
        elif key == "max_coordinate_mm":
            values[key] = _number(value, w, low=0.0, low_open=True)
        elif key == "positive_name":
            values[key] = _string(value, w)
        elif key == "negative_names":
            values[key] = _strings(value, w)
        elif key == "threshold" and cls is DetectionConfig:
            values[key] = None if value is None else _number(value, w, low=0.0, high=1.0)
        elif key == "threshold":
            values[key] = _number(value, w, low=0.0, high=1.0)
        elif key == "froc_fp_rates":
            rates = value if isinstance(value, list) and value else None
            if rates is None:
                raise _fail(w, f"expected a non-empty list of numbers, got {value!r}")
            values[key] = tuple(_number(v, f"{w}[{i}]", low=0.0, low_open=True) for i, v in enumerate(rates))
        elif key == "bootstrap_samples" or key == "seed":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _fail(w, f"expected a non-negative integer, got {value!r}")
            values[key] = value
        elif key == "confidence_level":
            values[key] = _number(value, w, low=0.0, high=1.0, low_open=True)
            if values[key] >= 1.0:
                raise _fail(w, f"must be < 1, got {value!r}")
        elif key == "tolerance":
            values[key] = _number(value, w, low=0.0)
        elif key == "unit":
            if value not in LENGTH_UNITS:
                raise _fail(w, f"expected one of {list(LENGTH_UNITS)}, got {value!r}")
            values[key] = value
        else:  # pragma: no cover - every field is handled above
            raise _fail(w, "unhandled key")
    return cls(**values)


def parse_config(raw: Any, source: str = "config") -> Config:
    """Validate a decoded JSON config and return it with defaults filled in.

    Messages read ``<source>: <key path>: <problem>``, e.g.
    ``config.json: detection.radius_mm: must be > 0.0, got 0``.
    """
    try:
        return _parse(raw)
    except EvaluationError as exc:
        raise EvaluationError(f"{source}: {exc}") from exc


def _parse(raw: Any) -> Config:
    where = ""
    if not isinstance(raw, dict):
        raise _fail(where, f"expected a JSON object, got {type(raw).__name__}")
    top = {"metrics", "case_input", "ignore_outputs", *METRIC_NAMES}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown}; known keys: {sorted(top)}")
    kwargs: dict[str, Any] = {}
    if "metrics" in raw:
        metrics = _strings(raw["metrics"], "metrics")
        bad = [m for m in metrics if m not in METRIC_NAMES]
        if bad or not metrics or len(set(metrics)) != len(metrics):
            raise _fail("metrics",
                        f"expected distinct names from {list(METRIC_NAMES)}, got {list(metrics)}")
        kwargs["metrics"] = metrics
    if "case_input" in raw:
        kwargs["case_input"] = None if raw["case_input"] is None else _string(raw["case_input"], "case_input")
    if "ignore_outputs" in raw:
        kwargs["ignore_outputs"] = _strings(raw["ignore_outputs"], "ignore_outputs")
    sections = {
        "detection": DetectionConfig, "classification": ClassificationConfig,
        "segmentation": SegmentationConfig, "major_axis": MajorAxisConfig,
    }
    for name, cls in sections.items():
        if name in raw:
            kwargs[name] = _convert(cls, raw[name], name)
    config = Config(**kwargs)
    sockets = list(config.sockets().values())
    if len(set(sockets)) != len(sockets):
        raise _fail(where, f"two metrics read the same output socket: {config.sockets()}")
    clash = sorted(set(sockets) & set(config.ignore_outputs))
    if clash:
        raise _fail("ignore_outputs", f"lists socket(s) {clash} that a metric scores")
    if config.detection.positive_name in config.detection.negative_names:
        raise _fail("detection", "positive_name is also listed in negative_names")
    return config


def load_config(path: Path | None, ground_truth_dir: Path | None = None) -> tuple[Config, str]:
    """The config from ``path``, else ``<ground truth>/config.json``, else the defaults.

    Returns the config and a short description of where it came from (for the log).
    """
    if path is not None:
        if not path.is_file():
            raise EvaluationError(f"config file not found: {path}")
        return parse_config(read_json(path), str(path)), str(path)
    if ground_truth_dir is not None:
        candidate = ground_truth_dir / CONFIG_FILE_NAME
        if candidate.is_file():
            return parse_config(read_json(candidate), str(candidate)), str(candidate)
    return Config(), "built-in defaults (MIDOG-style detection)"


def config_to_dict(config: Config) -> dict[str, Any]:
    """The config as plain JSON types (recorded in metrics.json for provenance)."""
    def plain(value: Any) -> Any:
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value
    out: dict[str, Any] = {
        "metrics": list(config.metrics),
        "case_input": config.case_input,
        "ignore_outputs": list(config.ignore_outputs),
    }
    for name in config.metrics:
        section = getattr(config, name)
        out[name] = {f.name: plain(getattr(section, f.name)) for f in dataclasses.fields(section)}
    return out
