"""The task config: which metrics to compute, from which output sockets, with which parameters.

A small JSON file (``--config``, else ``config.json`` in the ground-truth folder,
else the built-in MIDOG-style defaults below). Every key is optional; unknown
keys are errors so a typo cannot silently fall back to a default::

    {
      "metrics": ["detection", "classification", "segmentation", "major_axis"],
      "case_input": null,
      "ignore_outputs": [],
      "plots": false,
      "detection": {"socket": "mitotic-figures", "radius_mm": 0.0075, "threshold": null},
      "classification": {"socket": "tumour-likelihood", "threshold": 0.5, "label_socket": null},
      "segmentation": {"socket": "nuclei-segmentation"},
      "major_axis": {"socket": "tumour-major-axis", "tolerance": 0.05}
    }

Each dataclass checks its own values when it is built (``__post_init__``), whether from
JSON or in Python, so no config object exists that the metrics cannot use; building from
JSON (:meth:`_Section.from_json`) adds the unknown-key check and the key path to messages.
See ``evaluation/README.md`` for every key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from evaluation.errors import EvaluationError
from evaluation.files import read_json
from evaluation.sockets import MILLIMETRES_PER_UNIT, MITOTIC_FIGURES, SOCKETS, TUMOUR_LIKELIHOOD, TUMOUR_MAJOR_AXIS

METRIC_NAMES = ("detection", "classification", "segmentation", "major_axis")
CONFIG_FILE_NAME = "config.json"


class ConfigValueError(EvaluationError):
    """One config value is wrong; ``key`` is its path (``detection.radius_mm``), None for the whole config.

    A section names only its own key; the section's name and the file are prefixed on the way up.
    """

    def __init__(self, key: str | None, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem

    def under(self, where: str) -> ConfigValueError:
        """The same problem with ``where`` (a section's name) in front of the key."""
        return ConfigValueError(f"{where}.{self.key}" if self.key else where, self.problem)


def unknown_keys_error(raw: dict[str, Any], known: Iterable[str], where: str) -> ConfigValueError | None:
    """The error for keys of ``raw`` not in ``known`` (None when there are none).

    The one message for every unknown key, at the top level and in each section.
    """
    names = list(known)
    unknown = sorted(set(raw) - set(names))
    if not unknown:
        return None
    return ConfigValueError(where or None, f"unknown key(s) {unknown}; known keys: {sorted(names)}")


def _number(
    value: Any, key: str, *, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigValueError(key, f"expected a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ConfigValueError(key, f"must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigValueError(key, f"must be <= {high}, got {value!r}")
    return float(value)


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigValueError(key, f"expected a non-negative integer, got {value!r}")
    return value


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigValueError(key, f"expected true or false, got {value!r}")
    return value


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigValueError(key, f"expected a non-empty string, got {value!r}")
    return value


def _strings(value: Any, key: str) -> tuple[str, ...]:
    # a tuple in Python, a list in JSON
    if not isinstance(value, list | tuple):
        raise ConfigValueError(key, f"expected a list of strings, got {value!r}")
    return tuple(_string(v, f"{key}[{i}]") for i, v in enumerate(value))


class _Section:
    """What every config dataclass shares: building from JSON, setting checked values.

    Subclasses are frozen dataclasses whose ``__post_init__`` checks each field and stores
    the checked (normalised) value with :meth:`_set`.
    """

    # Set by @dataclass on each subclass; declared so that dataclasses.fields(cls) type-checks.
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Self:
        """Build from a decoded JSON object; ``where`` is its key path for messages."""
        if not isinstance(raw, dict):
            raise ConfigValueError(where or None, f"expected a JSON object, got {type(raw).__name__}")
        unknown = unknown_keys_error(raw, (f.name for f in dataclasses.fields(cls)), where)
        if unknown is not None:
            raise unknown
        try:
            return cls(**cls._prepare(raw))
        except ConfigValueError as exc:
            raise (exc.under(where) if where else exc) from None

    @classmethod
    def _prepare(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """The constructor's arguments from the JSON object's (keys already checked)."""
        return raw

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # the dataclasses are frozen; this is __post_init__'s normalising


@dataclass(frozen=True)
class DetectionConfig(_Section):
    """Point detection (MIDOG).

    ``threshold`` None is MIDOG's rule: the point's ``name`` alone decides what
    counts for F1 (the algorithm already applied its own threshold when naming
    points). A number additionally requires ``probability >= threshold``.
    """

    socket: str = MITOTIC_FIGURES.slug
    radius_mm: float = 0.0075
    positive_name: str = "mitotic figure"
    negative_names: tuple[str, ...] = ("non-mitotic figure",)
    threshold: float | None = None
    # Used when the ground truth gives no image size: no point on a glass slide
    # (75 x 25 mm, large format 75 x 50 mm) lies further from the corner.
    max_coordinate_mm: float = 100.0
    froc_fp_rates: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)

    def __post_init__(self) -> None:
        self._set("socket", _string(self.socket, "socket"))
        self._set("radius_mm", _number(self.radius_mm, "radius_mm", low=0.0, low_open=True))
        self._set("positive_name", _string(self.positive_name, "positive_name"))
        self._set("negative_names", _strings(self.negative_names, "negative_names"))
        if self.threshold is not None:
            self._set("threshold", _number(self.threshold, "threshold", low=0.0, high=1.0))
        self._set("max_coordinate_mm", _number(self.max_coordinate_mm, "max_coordinate_mm", low=0.0, low_open=True))
        rates = self.froc_fp_rates
        if not isinstance(rates, list | tuple) or not rates:
            raise ConfigValueError("froc_fp_rates", f"expected a non-empty list of numbers, got {rates!r}")
        self._set(
            "froc_fp_rates",
            tuple(_number(r, f"froc_fp_rates[{i}]", low=0.0, low_open=True) for i, r in enumerate(rates)),
        )
        if self.positive_name in self.negative_names:
            raise ConfigValueError("negative_names", f"positive_name {self.positive_name!r} is also listed here")


@dataclass(frozen=True)
class ClassificationConfig(_Section):
    """Slide classification from a likelihood in [0, 1] (HeLP tumour, HER2 positive).

    AUC always comes from ``socket`` (a ``Float`` likelihood). The thresholded metrics (F1,
    balanced accuracy, sensitivity, specificity, accuracy) call a slide positive when
    ``likelihood >= threshold``, unless ``label_socket`` names a ``Bool`` output socket (e.g.
    ``"slide-label"``, JSON ``true``/``false``): then they are the algorithm's own calls, read
    from that socket, and ``threshold`` is not used. The HER2 task::

        {"metrics": ["classification"],
         "classification": {"socket": "slide-label-likelihood", "label_socket": "slide-label"}}
    """

    socket: str = TUMOUR_LIKELIHOOD.slug
    threshold: float = 0.5
    bootstrap_samples: int = 1000
    confidence_level: float = 0.95
    seed: int = 0
    label_socket: str | None = None  # a Bool socket with the slide's call; None: likelihood >= threshold

    def __post_init__(self) -> None:
        self._set("socket", _string(self.socket, "socket"))
        if self.label_socket is not None:
            self._set("label_socket", _string(self.label_socket, "label_socket"))
            if self.label_socket == self.socket:
                raise ConfigValueError("label_socket", f"must differ from socket, both are {self.socket!r}")
        self._set("threshold", _number(self.threshold, "threshold", low=0.0, high=1.0))
        self._set("bootstrap_samples", _count(self.bootstrap_samples, "bootstrap_samples"))
        level = _number(self.confidence_level, "confidence_level", low=0.0, high=1.0, low_open=True)
        if level >= 1.0:
            raise ConfigValueError("confidence_level", f"must be < 1, got {self.confidence_level!r}")
        self._set("confidence_level", level)
        self._set("seed", _count(self.seed, "seed"))


@dataclass(frozen=True)
class SegmentationConfig(_Section):
    """Binary segmentation masks; float masks are foreground where ``value >= threshold``."""

    socket: str = "nuclei-segmentation"
    threshold: float = 0.5

    def __post_init__(self) -> None:
        self._set("socket", _string(self.socket, "socket"))
        self._set("threshold", _number(self.threshold, "threshold", low=0.0, high=1.0))


@dataclass(frozen=True)
class MajorAxisConfig(_Section):
    """Major-axis length (HeLP); correct within ``tolerance`` relative error. Truth is always in mm.

    ``unit`` is the unit of the algorithm's number. Left out (or null), it is the unit in the
    socket's definition (``evaluation/sockets.py``, the algorithm's own file), so the evaluation
    reads the kit's ``tumour-major-axis`` in the micrometres the algorithm writes; a socket the
    kit does not define needs it given. Once built, ``unit`` is always ``"mm"`` or ``"um"``.
    """

    socket: str = TUMOUR_MAJOR_AXIS.slug
    tolerance: float = 0.05
    unit: str = ""  # "": the socket's unit; resolved when built

    def __post_init__(self) -> None:
        socket = _string(self.socket, "socket")
        self._set("socket", socket)
        self._set("tolerance", _number(self.tolerance, "tolerance", low=0.0))
        units = sorted(MILLIMETRES_PER_UNIT)
        if not self.unit:  # "" (Python) or null (JSON)
            known = SOCKETS.get(socket)
            if known is None or known.unit is None:
                raise ConfigValueError(
                    "unit", f"socket {socket!r} has no unit in the kit's socket definitions; give one of {units}"
                )
            self._set("unit", known.unit)
        elif self.unit not in MILLIMETRES_PER_UNIT:
            raise ConfigValueError("unit", f"expected one of {units}, got {self.unit!r}")

    @property
    def millimetres_per_unit(self) -> float:
        """The factor from the algorithm's number to millimetres."""
        return MILLIMETRES_PER_UNIT[self.unit]


SECTIONS: dict[str, type[_Section]] = {
    "detection": DetectionConfig,
    "classification": ClassificationConfig,
    "segmentation": SegmentationConfig,
    "major_axis": MajorAxisConfig,
}


@dataclass(frozen=True)
class Config(_Section):
    """The whole task config: the metrics to compute and one section of parameters per metric.

    Sections of metrics not in ``metrics`` keep their defaults and are not scored.
    """

    metrics: tuple[str, ...] = ("detection",)
    # Input socket slug whose image name identifies the case; None: the job's only image input.
    case_input: str | None = None
    # Output sockets the algorithm may produce that this evaluation does not score.
    ignore_outputs: tuple[str, ...] = ()
    # Also write the plots (evaluation/plots.py) beside metrics.json: grand-challenge runs the container
    # without arguments, so this is how an organiser asks for them there (--plots does it on the command line).
    plots: bool = False
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    classification: ClassificationConfig = field(default_factory=ClassificationConfig)
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    major_axis: MajorAxisConfig = field(default_factory=MajorAxisConfig)

    def __post_init__(self) -> None:
        metrics = _strings(self.metrics, "metrics")
        if not metrics or len(set(metrics)) != len(metrics) or any(m not in METRIC_NAMES for m in metrics):
            raise ConfigValueError("metrics", f"expected distinct names from {list(METRIC_NAMES)}, got {list(metrics)}")
        self._set("metrics", metrics)
        if self.case_input is not None:
            self._set("case_input", _string(self.case_input, "case_input"))
        self._set("ignore_outputs", _strings(self.ignore_outputs, "ignore_outputs"))
        self._set("plots", _flag(self.plots, "plots"))
        for name, section in SECTIONS.items():
            if not isinstance(getattr(self, name), section):
                raise ConfigValueError(name, f"expected a {section.__name__}, got {getattr(self, name)!r}")
        sockets = self.output_sockets()
        if len(set(sockets)) != len(sockets):
            raise ConfigValueError(None, f"two metrics read the same output socket: {self._sockets_read()}")
        clash = sorted(set(sockets) & set(self.ignore_outputs))
        if clash:
            raise ConfigValueError("ignore_outputs", f"lists socket(s) {clash} that a metric scores")

    @classmethod
    def _prepare(cls, raw: dict[str, Any]) -> dict[str, Any]:
        # The sections are objects of their own: built, and their keys checked, each under its name.
        return {key: SECTIONS[key].from_json(value, key) if key in SECTIONS else value for key, value in raw.items()}

    def sockets(self) -> dict[str, str]:
        """Output socket slug of each enabled metric, in ``metrics`` order."""
        return {name: getattr(self, name).socket for name in self.metrics}

    def output_sockets(self) -> tuple[str, ...]:
        """Every output socket the enabled metrics read: :meth:`sockets` and classification's ``label_socket``."""
        return tuple(slug for slugs in self._sockets_read().values() for slug in slugs)

    def _sockets_read(self) -> dict[str, list[str]]:
        out = {name: [socket] for name, socket in self.sockets().items()}
        if "classification" in out and self.classification.label_socket is not None:
            out["classification"].append(self.classification.label_socket)
        return out


def parse_config(raw: Any, source: str = "config") -> Config:
    """Validate a decoded JSON config and return it with defaults filled in.

    Messages read ``<source>: <key path>: <problem>``, e.g.
    ``config.json: detection.radius_mm: must be > 0.0, got 0``.
    """
    try:
        return Config.from_json(raw, "")
    except EvaluationError as exc:
        raise EvaluationError(f"{source}: {exc}") from exc


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
    """The config as plain JSON types (recorded in metrics.json for provenance).

    What produced the numbers: ``plots`` is left out, as it changes which files are written, not any metric.
    """

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
    if "classification" in out and out["classification"]["label_socket"] is None:
        # recorded only when set: a config without it records (and its metrics.json reads) as before the key existed
        del out["classification"]["label_socket"]
    return out
