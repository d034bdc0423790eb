"""The slide-label task (the HER2 study's): AUC from the likelihood socket, F1 and the other
thresholded metrics from the algorithm's own Bool calls (``classification.label_socket``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from evaluation.config import ClassificationConfig, config_to_dict, parse_config
from evaluation.errors import EvaluationError
from evaluation.metrics import classification
from evaluation.sockets import SLIDE_LABEL, SLIDE_LABEL_LIKELIHOOD, SOCKETS
from tests.evaluation.builders import Raw, Submission

README = Path(__file__).resolve().parents[2] / "evaluation" / "README.md"

# Six slides, worked by hand. Truth: three positive, three negative.
#   likelihoods 0.9 0.8 0.4 | 0.6 0.3 0.2  -> AUC: 0.9 and 0.8 beat every negative (3 + 3), 0.4 beats two (2): 8/9
#   calls       T   T   T   | T   F   F    -> TP 3, FN 0, FP 1, TN 2: F1 = 6/7, sensitivity 1, specificity 2/3,
#                                             accuracy 5/6, balanced accuracy 5/6
#   at 0.5      T   T   F   | T   F   F    -> TP 2, FN 1, FP 1, TN 2: F1 = 2/3 (what thresholding would give)
SLIDES = ("001.tiff", "002.tiff", "003.tiff", "004.tiff", "005.tiff", "006.tiff")
LABELS = np.array([1, 1, 1, 0, 0, 0])
LIKELIHOODS = np.array([0.9, 0.8, 0.4, 0.6, 0.3, 0.2])
CALLS = np.array([True, True, True, True, False, False])
BY_HAND = {
    "auc": 8 / 9,
    "f1_score": 6 / 7,
    "sensitivity": 1.0,
    "specificity": 2 / 3,
    "accuracy": 5 / 6,
    "balanced_accuracy": 5 / 6,
}


def her2_config() -> dict[str, Any]:
    """The HER2 config exactly as evaluation/README.md documents it (the JSON block after its marker)."""
    match = re.search(r"<!-- her2-config:[^>]*-->\s*```json\n(.*?)```", README.read_text(), re.S)
    assert match is not None, "evaluation/README.md lost its HER2 config block"
    return json.loads(match.group(1))


def her2_submission(
    submission: Submission, calls: Any = CALLS, config: dict[str, Any] | None = None, **job: Any
) -> Submission:
    submission.config(her2_config() if config is None else config)
    submission.slides_csv("case,label\n" + "".join(f"{s},{y}\n" for s, y in zip(SLIDES, LABELS, strict=True)))
    for slide, likelihood, call in zip(SLIDES, LIKELIHOODS, calls, strict=True):
        value = call.item() if isinstance(call, np.generic) else call
        submission.job(slide, {"slide-label-likelihood": float(likelihood), "slide-label": value}, **job)
    submission.write_predictions()
    return submission


def resample_by_hand(seed: int, samples: int, level: float) -> dict[str, list[float]]:
    """The percentile intervals computed with numpy and explicit pair counts, sharing no code with the metric."""
    n = len(LABELS)
    idx = np.random.default_rng(seed).integers(0, n, size=(samples, n))
    aucs, f1s, bas = [], [], []
    for row in idx:
        y, p, c = LABELS[row], LIKELIHOODS[row], CALLS[row]
        pos, neg = p[y == 1], p[y == 0]
        if pos.size and neg.size:
            wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
            aucs.append(wins / (pos.size * neg.size))
        tp, fp, fn = (c & (y == 1)).sum(), (c & (y == 0)).sum(), (~c & (y == 1)).sum()
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        rates = [tp / (tp + fn)] if tp + fn else []
        rates += [(~c & (y == 0)).sum() / (y == 0).sum()] if (y == 0).any() else []
        bas.append(float(np.mean(rates)))
    q = [(1 - level) / 2, (1 + level) / 2]
    return {
        "auc_ci": np.quantile(aucs, q).tolist(),
        "f1_score_ci": np.quantile(f1s, q).tolist(),
        "balanced_accuracy_ci": np.quantile(bas, q).tolist(),
    }


def test_the_sockets_are_defined():
    assert SOCKETS["slide-label-likelihood"] == SLIDE_LABEL_LIKELIHOOD
    assert SOCKETS["slide-label"] == SLIDE_LABEL
    likelihood, label = SLIDE_LABEL_LIKELIHOOD, SLIDE_LABEL
    assert (likelihood.kind, likelihood.relative_path) == ("Float", "slide-label-likelihood.json")
    assert likelihood.unit is None and label.unit is None
    assert (label.kind, label.relative_path) == ("Bool", "slide-label.json")


def test_the_documented_config_parses_and_records_its_label_socket():
    config = parse_config(her2_config())
    assert config.metrics == ("classification",)
    assert config.classification.socket == "slide-label-likelihood"
    assert config.classification.label_socket == "slide-label"
    assert config.output_sockets() == ("slide-label-likelihood", "slide-label")
    recorded = config_to_dict(config)
    assert recorded["classification"]["label_socket"] == "slide-label"
    assert parse_config(recorded) == config
    # without the key the record is what it was before the key existed
    assert "label_socket" not in config_to_dict(parse_config({"metrics": ["classification"]}))["classification"]


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"classification": {"label_socket": ""}}, "config: classification.label_socket: expected a non-empty string"),
        ({"classification": {"label_socket": True}}, "classification.label_socket: expected a non-empty string"),
        (
            {"classification": {"socket": "slide-label", "label_socket": "slide-label"}},
            "classification.label_socket: must differ from socket, both are 'slide-label'",
        ),
        (
            {"metrics": ["detection", "classification"], "classification": {"label_socket": "mitotic-figures"}},
            "two metrics read the same output socket",
        ),
        (
            {"metrics": ["classification"], "classification": {"label_socket": "x"}, "ignore_outputs": ["x"]},
            "lists socket(s) ['x'] that a metric scores",
        ),
    ],
)
def test_bad_label_socket_configs_are_refused(raw, message):
    with pytest.raises(EvaluationError) as info:
        parse_config(raw)
    assert message in str(info.value)


def test_calls_decide_the_thresholded_metrics_and_the_likelihood_the_auc():
    config = ClassificationConfig(label_socket="slide-label", bootstrap_samples=0)
    out = classification.aggregate(LABELS, LIKELIHOODS, config, CALLS)
    for key, value in BY_HAND.items():
        assert out[key] == pytest.approx(value, abs=1e-15), key
    assert out["f1_score"] == pytest.approx(f1_score(LABELS, CALLS.astype(int)), abs=1e-15)
    assert out["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(LABELS, CALLS.astype(int)), abs=1e-15)
    assert out["auc"] == pytest.approx(roc_auc_score(LABELS, LIKELIHOODS), abs=1e-15)
    assert out["threshold"] is None and out["label_socket"] == "slide-label"

    thresholded = classification.aggregate(LABELS, LIKELIHOODS, ClassificationConfig(bootstrap_samples=0))
    assert thresholded["f1_score"] == pytest.approx(2 / 3) != out["f1_score"]  # they disagree on 003 and 004
    assert thresholded["auc"] == out["auc"]
    assert thresholded["threshold"] == 0.5 and "label_socket" not in thresholded


def test_calls_are_given_exactly_when_the_config_has_a_label_socket():
    with pytest.raises(ValueError, match="label_socket"):
        classification.aggregate(LABELS, LIKELIHOODS, ClassificationConfig(), CALLS)
    with pytest.raises(ValueError, match="label_socket"):
        classification.aggregate(LABELS, LIKELIHOODS, ClassificationConfig(label_socket="slide-label"))
    with pytest.raises(ValueError, match="5 predicted labels for 6 likelihoods"):
        classification.aggregate(LABELS, LIKELIHOODS, ClassificationConfig(label_socket="slide-label"), CALLS[:5])


def test_bootstrap_intervals_resample_the_calls_with_their_slides():
    config = ClassificationConfig(label_socket="slide-label", bootstrap_samples=300, seed=5, confidence_level=0.9)
    out = classification.aggregate(LABELS, LIKELIHOODS, config, CALLS)
    expected = resample_by_hand(5, 300, 0.9)
    for key, interval in expected.items():
        assert out[key] == pytest.approx(interval, abs=1e-12), key
    assert out["bootstrap"]["samples"] == 300


def test_her2_run_scores_f1_on_the_calls_and_auc_on_the_likelihood(submission):
    her2_submission(submission)
    assert submission.run() == 0
    metrics = submission.metrics()
    agg = metrics["aggregates"]["classification"]
    for key, value in BY_HAND.items():
        assert agg[key] == pytest.approx(value, abs=1e-12), key
    assert agg["threshold"] is None and agg["label_socket"] == "slide-label"
    assert (agg["n_cases"], agg["n_positive"]) == (6, 3)
    # the documented config's defaults: 1000 resamples, 95 %, seed 0
    expected = resample_by_hand(0, 1000, 0.95)
    for key, interval in expected.items():
        assert agg[key] == pytest.approx(interval, abs=1e-12), key
        assert 0.0 <= agg[key][0] <= agg[key][1] <= 1.0
    assert agg["bootstrap"]["samples"] == 1000 and agg["bootstrap"]["valid_samples_auc"] <= 1000
    assert [r["classification"] for r in metrics["results"]] == [
        {"label": int(y), "likelihood": float(p), "predicted_label": int(c)}
        for y, p, c in zip(LABELS, LIKELIHOODS, CALLS, strict=True)
    ]
    assert metrics["aggregates"]["config"]["classification"]["label_socket"] == "slide-label"
    assert set(metrics["aggregates"]) == {"classification", "n_cases", "evaluation_version", "config"}


def test_without_the_label_socket_the_same_jobs_are_thresholded(submission):
    config = {"metrics": ["classification"], "classification": {"socket": "slide-label-likelihood"}}
    her2_submission(submission, config={**config, "ignore_outputs": ["slide-label"]})
    assert submission.run() == 0
    agg = submission.metrics()["aggregates"]["classification"]
    assert agg["f1_score"] == pytest.approx(2 / 3) and agg["auc"] == pytest.approx(8 / 9)
    assert agg["threshold"] == 0.5 and "label_socket" not in agg


def test_calls_given_inline_are_read_too(submission):
    her2_submission(submission, inline=("slide-label",))
    assert submission.run() == 0
    assert submission.metrics()["aggregates"]["classification"]["f1_score"] == pytest.approx(6 / 7)


@pytest.mark.parametrize(
    "bad,shown",
    [(1, "int 1"), (0, "int 0"), ("true", "str 'true'"), (Raw("null"), "NoneType None"), (0.0, "float 0.0")],
)
def test_a_call_that_is_not_true_or_false_fails_naming_the_case_and_file(submission, capsys, bad, shown):
    calls: list[Any] = [bool(c) for c in CALLS]
    calls[3] = bad
    her2_submission(submission, calls=calls)
    assert submission.run() == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "evaluation failed: job job-0003 (image '004.tiff') output 'slide-label' (slide-label.json): "
        f"expected true or false (a 'Bool' output), got {shown}"
    ]
    assert not submission.metrics_path.exists()


def test_a_missing_call_is_a_missing_output(submission, capsys):
    her2_submission(submission)
    del submission.jobs[2]["outputs"][1]  # 003.tiff without slide-label
    submission.write_predictions()
    assert submission.run() == 1
    err = capsys.readouterr().err
    assert "job job-0002 (image '003.tiff'): no output for socket(s) ['slide-label']" in err


def test_the_roc_plot_marks_the_calls(submission):
    pytest.importorskip("matplotlib")
    her2_submission(submission)
    assert submission.run("--plots") == 0
    assert (submission.output_dir / "classification_roc.png").stat().st_size > 0
