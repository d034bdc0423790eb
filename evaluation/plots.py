"""The evaluation's pictures: ROC, detection FROC and precision-recall, per-case Dice, as PNGs beside metrics.json.

Written only when asked for (``--plots``, or ``"plots": true`` in the task config, as grand-challenge
runs the container without arguments). matplotlib is imported on first use, so the default
evaluation neither needs nor loads it; :func:`require_matplotlib` fails with one line, before any
scoring, when it is missing.

Each picture draws the numbers its metric was computed from, not a recomputation that could
disagree: the curves come from the same functions and the same cases as the aggregates
(:func:`evaluation.metrics.classification.roc_points`, whose area is the AUC;
:func:`evaluation.metrics.detection.precision_recall_curve`, whose step-wise area is the AP;
:func:`evaluation.metrics.detection.froc_curve`, sampled for the FROC score), and every number in a
legend is read from metrics.json's content.

Deterministic: a fixed size (:data:`FIGURE_SIZE_PX`), matplotlib's default style whatever a local
matplotlibrc says, and no software name or time in the PNG, so the same input gives the same bytes
with the same matplotlib.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.evaluate import Evaluation
from evaluation.files import write_bytes_atomic
from evaluation.metrics import classification, detection

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 120
FIGURE_SIZE_PX = (960, 720)  # width, height: 8 x 6 inches at DPI
# Per-domain precision-recall curves (C0 is all cases, C3 the submission's operating point).
DOMAIN_COLOURS = ("C1", "C2", "C4", "C5", "C6", "C7", "C8", "C9")
# Segmentation bars are labelled with their case names up to this many cases.
MAX_LABELLED_CASES = 40


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.3")


def _finish(
    ax: Axes, title: str, xlabel: str, ylabel: str, legend_loc: Literal["lower right", "lower left", "upper center"]
) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc=legend_loc, fontsize="small", ncols=3 if legend_loc == "upper center" else 1)


def _draw_roc(fig: Figure, evaluation: Evaluation) -> None:
    """ROC of the slide likelihoods; AUC (and its bootstrap interval) in the legend, the threshold's point marked.

    With a ``label_socket`` the point marked is the algorithm's calls' (sensitivity, specificity), which can lie
    off the curve where calls and likelihoods disagree.
    """
    agg = evaluation.metrics["aggregates"]["classification"]
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", label="chance (AUC = 0.5)")
    points = classification.roc_points(evaluation.labels, evaluation.likelihoods)
    if points is None:
        ax.plot([], [], color="C0", label="ROC, AUC = n/a")
        _note(ax, "no ROC curve: the ground truth has slides of one class only")
    else:
        label = f"ROC, AUC = {_fmt(agg['auc'])}"
        if agg.get("auc_ci") is not None:
            lo, hi = agg["auc_ci"]
            boot = agg["bootstrap"]
            label += f" ({boot['confidence_level']:.0%} CI {lo:.3f}–{hi:.3f}, {boot['samples']} bootstrap resamples)"
        ax.plot(points[0], points[1], color="C0", linewidth=2, label=label)
    sensitivity, specificity = agg["sensitivity"], agg["specificity"]
    if sensitivity is not None and specificity is not None:
        # the algorithm's own calls (label_socket) need not lie on the likelihood's curve
        calls = f"'{agg['label_socket']}' calls" if agg.get("label_socket") else f"threshold {agg['threshold']:g}"
        ax.plot(
            [1.0 - specificity],
            [sensitivity],
            "o",
            color="C3",
            markersize=8,
            label=f"{calls}: sensitivity {sensitivity:.3f}, specificity {specificity:.3f}, "
            f"F1 = {_fmt(agg['f1_score'])}",
        )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    _finish(
        ax,
        f"Slide classification: ROC ({agg['n_cases']} slides, {agg['n_positive']} positive)",
        "False positive rate = 1 − specificity (fraction of negative slides)",
        "True positive rate = sensitivity (fraction of positive slides)",
        "lower right",
    )


def _submission_label(evaluation: Evaluation) -> str:
    cfg = evaluation.config.detection
    rule = f"named {cfg.positive_name!r}"
    if cfg.threshold is not None:
        rule += f", probability >= {cfg.threshold:g}"
    return f"submission's points ({rule})"


def _draw_precision_recall(fig: Figure, evaluation: Evaluation) -> None:
    """Precision-recall over all candidates (and per domain), AP in the legend, the submission's F1 point marked."""
    det = evaluation.metrics["aggregates"]["detection"]
    ax = fig.add_subplot()
    groups: list[tuple[str, list[detection.DetectionCase], dict[str, Any]]] = [
        ("all cases", evaluation.detection_cases, det)
    ]
    per_domain = det.get("per_domain", {})
    if len(per_domain) > 1:
        groups += [(d, cases, per_domain[d]) for d, cases in detection.by_domain(evaluation.detection_cases).items()]
    for i, (name, cases, numbers) in enumerate(groups):
        probabilities, hits, n_truth = detection.pooled(cases)
        style: dict[str, Any] = (
            {"linewidth": 2, "color": "C0"}
            if i == 0
            else {"linewidth": 1, "linestyle": "--", "color": DOMAIN_COLOURS[(i - 1) % len(DOMAIN_COLOURS)]}
        )
        if n_truth == 0:
            ax.plot([], [], label=f"{name}: AP = n/a (no ground-truth points)", **style)
            continue
        recall, precision = detection.precision_recall_curve(probabilities, hits, n_truth)
        label = f"{name}: AP = {_fmt(numbers['average_precision'])}"
        if recall.size:
            # Precision P_k on (R_{k-1}, R_k]: the area under these steps is the AP.
            ax.step(np.r_[0.0, recall], np.r_[precision[:1], precision], where="pre", label=label, **style)
        else:
            ax.plot([], [], label=label + " (no candidates)", **style)
    if det["n_truth"] == 0:
        _note(ax, "no precision-recall curve: the ground truth has no points")
    if det["precision"] is not None and det["recall"] is not None:
        ax.plot(
            [det["recall"]],
            [det["precision"]],
            "o",
            color="C3",
            markersize=8,
            label=f"{_submission_label(evaluation)}: F1 = {_fmt(det['f1_score'])} "
            f"(precision {det['precision']:.3f}, recall {det['recall']:.3f})",
        )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    _finish(
        ax,
        f"Detection: precision-recall ({det['n_cases']} cases, {det['n_truth']} ground-truth points)",
        "Recall = sensitivity (fraction of ground-truth points found)",
        "Precision (fraction of candidates that are true)",
        "lower left",
    )


def _draw_froc(fig: Figure, evaluation: Evaluation) -> None:
    """Sensitivity against false positives per case; the FROC score's sampled points and the submission's marked."""
    det = evaluation.metrics["aggregates"]["detection"]
    froc = det["froc"]
    rates = [float(r) for r in froc["fp_per_case"]]
    n_cases = det["n_cases"]
    ax = fig.add_subplot()
    ax.set_xscale("log", base=2)
    left = min(rates) / 2  # a case with no false positive is drawn here (a log axis has no 0)
    right = 2 * max(rates)
    submission_fp = det["false_positives"] / n_cases if n_cases else 0.0
    probabilities, hits, n_truth = detection.pooled(evaluation.detection_cases)
    if n_truth == 0:
        ax.plot([], [], color="C0", label="FROC score = n/a")
        _note(ax, "no FROC curve: the ground truth has no points")
    else:
        fp_per_case, sensitivity = detection.froc_curve(probabilities, hits, n_truth, n_cases)
        right = 2 * max(rates + [submission_fp, *fp_per_case.tolist()])
        last = float(sensitivity[-1]) if sensitivity.size else 0.0
        ax.step(
            np.r_[left, np.maximum(fp_per_case, left), right],
            np.r_[0.0, sensitivity, last],
            where="post",
            color="C0",
            linewidth=2,
            label="all candidates, ranked by probability",
        )
        listed = ", ".join(f"{r:g}" for r in rates)
        ax.plot(
            rates,
            froc["sensitivity"],
            "s",
            color="C1",
            markersize=7,
            label=f"FROC score = {_fmt(froc['score'])}: mean sensitivity at {listed} FP per case",
        )
    if det["recall"] is not None and n_cases:
        ax.plot(
            [max(submission_fp, left)],
            [det["recall"]],
            "o",
            color="C3",
            markersize=8,
            label=f"{_submission_label(evaluation)}: {submission_fp:.3g} FP per case, sensitivity {det['recall']:.3f}",
        )
    ax.set_xlim(left, right)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(rates, labels=[f"{r:g}" for r in rates])
    ax.minorticks_off()
    _finish(
        ax,
        f"Detection: FROC ({n_cases} cases, {det['n_truth']} ground-truth points)",
        "Average false positives per case (log scale)",
        "Sensitivity (fraction of ground-truth points found)",
        "lower right",
    )


def _draw_dice(fig: Figure, evaluation: Evaluation) -> None:
    """Each case's Dice as a bar, the mean (and the pooled Dice) as lines."""
    agg = evaluation.metrics["aggregates"]["segmentation"]
    cases = [r for r in evaluation.metrics["results"] if "segmentation" in r]
    ax = fig.add_subplot()
    positions = np.arange(len(cases))
    ax.bar(positions, [c["segmentation"]["dice"] for c in cases], color="C0", label="Dice of a case")
    if agg["mean_dice"] is not None:
        ax.axhline(agg["mean_dice"], color="C3", linewidth=2, label=f"mean Dice = {_fmt(agg['mean_dice'])}")
    ax.axhline(
        agg["pooled_dice"], color="C1", linestyle="--", label=f"pooled Dice (all pixels) = {_fmt(agg['pooled_dice'])}"
    )
    if len(cases) <= MAX_LABELLED_CASES:
        ax.set_xticks(positions, labels=[c["case"] for c in cases], rotation=90)
    else:
        ax.set_xticks([])
    ax.set_xlim(-0.6, len(cases) - 0.4)
    ax.set_ylim(0.0, 1.2)  # room for the legend above the bars
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    _finish(
        ax,
        f"Segmentation: Dice per case ({len(cases)} cases)",
        "Case (in case order)",
        "Dice = 2 × overlap / (truth + predicted pixels)",
        "upper center",
    )


Drawer = Callable[["Figure", Evaluation], None]
# The pictures of each metric family, by file name; families not listed (major_axis) have none.
PLOTS: dict[str, dict[str, Drawer]] = {
    "detection": {"detection_froc.png": _draw_froc, "detection_precision_recall.png": _draw_precision_recall},
    "classification": {"classification_roc.png": _draw_roc},
    "segmentation": {"segmentation_dice.png": _draw_dice},
}


def plot_files(metrics: Iterable[str]) -> list[str]:
    """The file names :func:`render_plots` writes for these metric families, in order."""
    return [name for family in metrics for name in PLOTS.get(family, {})]


def require_matplotlib() -> None:
    """Fail with one line when the plotting library cannot be imported (call it before scoring anything)."""
    try:
        importlib.import_module("matplotlib.figure")
    except ImportError as exc:
        raise EvaluationError(
            f'plots were asked for (--plots or the config\'s "plots": true) but matplotlib cannot be imported '
            f"({exc}): install evaluation/requirements.txt, or leave the plots out"
        ) from exc


def _png(draw: Drawer, evaluation: Evaluation) -> bytes:
    from matplotlib.figure import Figure  # imported here: the default evaluation runs without matplotlib

    fig = Figure(figsize=(FIGURE_SIZE_PX[0] / DPI, FIGURE_SIZE_PX[1] / DPI), dpi=DPI, layout="constrained")
    draw(fig, evaluation)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def render_plots(evaluation: Evaluation) -> dict[str, bytes]:
    """PNG bytes by file name for every enabled metric family with a picture, in :func:`plot_files` order.

    Everything is drawn in memory first, so a drawing failure writes nothing.
    """
    import matplotlib.style

    with matplotlib.style.context("default"):  # not whatever a local matplotlibrc says
        return {
            name: _png(draw, evaluation)
            for family in evaluation.config.metrics
            for name, draw in PLOTS.get(family, {}).items()
        }


def remove_files(paths: Iterable[Path]) -> list[str]:
    """Delete these files where they exist (so a failed evaluation leaves no outputs); those that cannot be, and why.

    Best effort: it runs while another failure is being reported, so it reports rather than raises.
    """
    failed = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            continue  # not a file this evaluation wrote
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            failed.append(f"{path.name} ({exc.strerror or exc})")
    return failed


def write_plots(output_dir: Path, pngs: dict[str, bytes]) -> list[Path]:
    """Write each PNG atomically into ``output_dir``; on failure remove those written and raise EvaluationError."""
    written: list[Path] = []
    for name, data in pngs.items():
        path = Path(output_dir) / name
        try:
            write_bytes_atomic(path, data)
        except OSError as exc:
            remove_files(written)
            raise EvaluationError(f"cannot write {path}: {exc.strerror or exc}") from exc
        written.append(path)
    return written
