"""``metrics.json``: ``{"results": [one object per case], "aggregates": {...}}``.

grand-challenge.org reads leaderboard columns from paths into this file, e.g.
``aggregates.detection.f1_score``. Aggregates are grouped by metric family
(``detection``, ``classification``, ``segmentation``, ``major_axis``) plus
``n_cases``, ``evaluation_version`` and the ``config`` that produced them.
Undefined values (e.g. AUC with a single class) are ``null``, never NaN.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from evaluation import __version__
from evaluation.config import Config, config_to_dict
from evaluation.errors import EvaluationError
from evaluation.files import write_json_atomic

METRICS_FILE = "metrics.json"


def _clean(value: Any) -> Any:
    """Plain JSON types; NaN/inf become null (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalar
        return _clean(value.item())
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def build_metrics(results: list[dict[str, Any]], aggregates: dict[str, Any], config: Config) -> dict[str, Any]:
    """The metrics.json content: per-case results and aggregates, with the config and version for provenance."""
    agg = {**aggregates, "n_cases": len(results), "evaluation_version": __version__, "config": config_to_dict(config)}
    return _clean({"results": results, "aggregates": agg})


def write_metrics(output_dir: Path, metrics: dict[str, Any]) -> Path:
    """Write ``<output_dir>/metrics.json`` atomically and return its path."""
    path = Path(output_dir) / METRICS_FILE
    try:
        write_json_atomic(path, metrics)
    except OSError as exc:
        raise EvaluationError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """A few human-readable lines for the log."""
    agg = metrics["aggregates"]
    lines = [f"{agg['n_cases']} cases"]
    picks = {
        "detection": ("f1_score", "precision", "recall", "average_precision"),
        "classification": ("auc", "f1_score", "balanced_accuracy"),
        "segmentation": ("mean_dice", "mean_iou"),
        "major_axis": ("accuracy", "mean_absolute_error_mm"),
    }
    for family, keys in picks.items():
        if family in agg:
            parts = []
            for k in keys:
                v = agg[family].get(k)
                parts.append(f"{k}={'n/a' if v is None else f'{v:.4f}'}")
            lines.append(f"{family}: " + ", ".join(parts))
    return lines
