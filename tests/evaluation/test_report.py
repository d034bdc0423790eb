"""metrics.json layout and strict-JSON cleaning."""

from __future__ import annotations

import json

import numpy as np

from evaluation import __version__
from evaluation.config import Config
from evaluation.report import build_metrics, summary_lines, write_metrics


def test_layout_and_cleaning(tmp_path):
    results = [{"case": "001", "detection": {"f1_score": np.float64(0.5), "true_positives": np.int64(2)}}]
    aggregates = {"detection": {"f1_score": 0.5, "precision": float("nan"), "froc": {"sensitivity": (0.1, np.inf)}}}
    metrics = build_metrics(results, aggregates, Config())
    assert set(metrics) == {"results", "aggregates"}
    agg = metrics["aggregates"]
    assert agg["n_cases"] == 1 and agg["evaluation_version"] == __version__
    assert agg["config"]["detection"]["socket"] == "mitotic-figures"
    assert agg["detection"]["precision"] is None and agg["detection"]["froc"]["sensitivity"] == [0.1, None]
    assert type(metrics["results"][0]["detection"]["true_positives"]) is int
    path = write_metrics(tmp_path / "out", metrics)
    assert json.loads(path.read_text()) == metrics
    assert summary_lines(metrics) == [
        "1 cases",
        "detection: f1_score=0.5000, precision=n/a, recall=n/a, average_precision=n/a",
    ]
