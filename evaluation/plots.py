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

Deterministic: a fixed size (:data:`FIGURE_SIZE_PX`; the Dice plot grows taller with its cases, by
:func:`dice_height_px`), matplotlib's default style whatever a local matplotlibrc says, and no software
name or time in the PNG, so the same input gives the same bytes with the same matplotlib.

Read under red-green colour blindness too: curves that must be told apart differ in line style and
marker as well as colour (Okabe and Ito's colour-blind-safe set), and the submission's operating point
is a black-edged dot that stands out on any curve.
"""

from __future__ import annotations

import importlib
import io
import os
import warnings
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
# Okabe & Ito's colour-blind-safe colours
ALL_CASES_COLOUR = "#0072B2"  # blue: the curve over all cases
# Per-domain precision-recall curves: (colour, line style, marker), so that no two differ by hue alone.
DOMAIN_STYLES: tuple[tuple[str, Any, str], ...] = (
    ("#E69F00", "--", "o"),  # orange
    ("#009E73", ":", "s"),  # bluish green
    ("#CC79A7", "-.", "^"),  # reddish purple
    ("#56B4E9", (0, (6, 2, 1, 2, 1, 2)), "D"),  # sky blue
    ("#000000", (0, (1, 3)), "v"),  # black
    ("#E69F00", (0, (8, 3)), "P"),
    ("#009E73", (0, (3, 1, 1, 1)), "X"),
    ("#CC79A7", (0, (1, 1)), "*"),
)
# The submission's operating point (its calls): vermillion with a black edge, seen on any curve.
OPERATING_POINT: dict[str, Any] = {
    "marker": "o",
    "linestyle": "none",
    "color": "#D55E00",
    "markeredgecolor": "black",
    "markeredgewidth": 1.5,
    "markersize": 9,
    "zorder": 5,
    "clip_on": False,
}
# Segmentation bars are labelled with their case names up to this many cases (the plot grows with them).
MAX_LABELLED_CASES = 80
CASE_ROW_PX = 18  # height per case of the Dice plot, beyond FIGURE_SIZE_PX's
DICE_MARGIN_PX = 220  # title, axis label and legend of the Dice plot
CASE_LABEL_CHARS = 40  # longer case names are shortened with "…" (the full ones are in metrics.json)
ELLIPSIS = "…"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.3")


def _finish(
    ax: Axes, title: str, xlabel: str, ylabel: str, legend_loc: Literal["lower right", "lower left", "below"]
) -> None:
    """Title, axis labels, grid and legend (``below``: under the figure, clear of bars however many)."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if legend_loc == "below":
        ax.figure.legend(loc="outside lower center", fontsize="small", ncols=3)
    else:
        ax.legend(loc=legend_loc, fontsize="small")


def _draw_roc(fig: Figure, evaluation: Evaluation) -> None:
    """ROC of the slide likelihoods; AUC (and its bootstrap interval) in the legend, the threshold's point marked.

    With a ``label_socket`` the point marked is the algorithm's calls' (sensitivity, specificity), which can lie
    off the curve where calls and likelihoods disagree.
    """
    agg = evaluation.metrics["aggregates"]["classification"]
    ax = fig.add_subplot()
    points = classification.roc_points(evaluation.labels, evaluation.likelihoods)
    if points is None:  # no chance diagonal either: it would run through the note
        ax.plot([], [], color=ALL_CASES_COLOUR, label="ROC, AUC = n/a")
        _note(ax, "no ROC curve: the ground truth has slides of one class only")
    else:
        ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", label="chance (AUC = 0.5)")
        label = f"ROC, AUC = {_fmt(agg['auc'])}"
        if agg.get("auc_ci") is not None:
            lo, hi = agg["auc_ci"]
            boot = agg["bootstrap"]
            label += f" ({boot['confidence_level']:.0%} CI {lo:.3f}–{hi:.3f}, {boot['samples']} bootstrap resamples)"
        ax.plot(points[0], points[1], color=ALL_CASES_COLOUR, linewidth=2, label=label)
    sensitivity, specificity = agg["sensitivity"], agg["specificity"]
    if sensitivity is not None and specificity is not None:
        # the algorithm's own calls (label_socket) need not lie on the likelihood's curve
        calls = f"'{agg['label_socket']}' calls" if agg.get("label_socket") else f"threshold {agg['threshold']:g}"
        ax.plot(
            [1.0 - specificity],
            [sensitivity],
            **OPERATING_POINT,
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


def _curve_style(i: int) -> dict[str, Any]:
    """The all-cases curve (0): thick, solid; a domain's (1, 2, ...): its colour, dashes and markers."""
    if i == 0:
        return {"linewidth": 2.5, "color": ALL_CASES_COLOUR}
    colour, dashes, marker = DOMAIN_STYLES[(i - 1) % len(DOMAIN_STYLES)]
    return {
        "linewidth": 1.8,
        "linestyle": dashes,
        "color": colour,
        "marker": marker,
        "markevery": 0.1,  # evenly spaced along the curve, however many steps it has
        "markersize": 6,
        "markerfacecolor": "white",
        "markeredgecolor": colour,
    }


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
        style = _curve_style(i)
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
            **OPERATING_POINT,
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
    """Sensitivity against false positives per case; the FROC score's sampled points and the submission's marked.

    The axis is logarithmic from the smallest sampled rate up and linear below it, so that 0 (a submission or a
    ranking with no false positive) is a real place on it, ticked "0", rather than off a log axis's edge.
    """
    det = evaluation.metrics["aggregates"]["detection"]
    froc = det["froc"]
    rates = [float(r) for r in froc["fp_per_case"]]
    n_cases = det["n_cases"]
    ax = fig.add_subplot()
    ax.set_xscale("symlog", base=2, linthresh=min(rates), linscale=1.0)  # [0, min] as wide as [min, 2 min]
    right = 2 * max(rates)
    submission_fp = det["false_positives"] / n_cases if n_cases else 0.0
    probabilities, hits, n_truth = detection.pooled(evaluation.detection_cases)
    if n_truth == 0:
        ax.plot([], [], color=ALL_CASES_COLOUR, label="FROC score = n/a")
        _note(ax, "no FROC curve: the ground truth has no points")
    else:
        fp_per_case, sensitivity = detection.froc_curve(probabilities, hits, n_truth, n_cases)
        right = 2 * max(rates + [submission_fp, *fp_per_case.tolist()])
        last = float(sensitivity[-1]) if sensitivity.size else 0.0
        ax.step(
            np.r_[0.0, fp_per_case, right],
            np.r_[0.0, sensitivity, last],
            where="post",
            color=ALL_CASES_COLOUR,
            linewidth=2,
            label="all candidates, ranked by probability",
        )
        listed = ", ".join(f"{r:g}" for r in rates)
        ax.plot(
            rates,
            froc["sensitivity"],
            "s",
            color="white",  # hollow: unlike the operating point's filled dot, in any colour vision
            markeredgecolor="black",
            markeredgewidth=1.2,
            markersize=7,
            label=f"FROC score = {_fmt(froc['score'])}: mean sensitivity at {listed} FP per case",
        )
    if det["recall"] is not None and n_cases:
        ax.plot(
            [submission_fp],
            [det["recall"]],
            **OPERATING_POINT,
            label=f"{_submission_label(evaluation)}: {submission_fp:.3g} FP per case, sensitivity {det['recall']:.3f}",
        )
    ax.set_xlim(-0.3 * min(rates), right)  # room left of 0 for a point drawn there
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks([0.0, *rates], labels=["0", *(f"{r:g}" for r in rates)])
    ax.minorticks_off()
    _finish(
        ax,
        f"Detection: FROC ({n_cases} cases, {det['n_truth']} ground-truth points)",
        f"Average false positives per case (log scale; linear from 0 to {min(rates):g})",
        "Sensitivity (fraction of ground-truth points found)",
        "lower right",
    )


def _cut(name: str, lo: int, hi: int, excess: int) -> tuple[str, int]:
    """``name`` with up to ``excess + 1`` characters from the middle of ``name[lo:hi]`` as one "…"; the excess left."""
    n = min(hi - lo, excess + 1)
    if n < 2:  # one character for one "…" saves nothing
        return name, excess
    start = lo + (hi - lo - n) // 2
    return name[:start] + ELLIPSIS + name[start + n :], excess - (n - 1)


def short_case_labels(names: list[str], width: int = CASE_LABEL_CHARS) -> list[str]:
    """Case names for an axis, each at most ``width`` characters.

    A longer name loses characters first where it agrees with every other name (inside the end, then the start,
    they all share: ``TCGA-A2-A0T2-01Z-00-DX1.001C3E9F0D8-6E47-4B3C.tiff`` keeps ``.001C3``, what tells it apart,
    and its first and last characters), then from its middle; names still alike after that are numbered.
    """
    if all(len(name) <= width for name in names):
        return list(names)
    shared_start = len(os.path.commonprefix(names)) if len(names) > 1 else 0
    shared_end = len(os.path.commonprefix([n[::-1] for n in names])) if len(names) > 1 else 0
    shared_end = min(shared_end, min(len(n) for n in names) - shared_start)
    labels = []
    for name in names:
        excess = len(name) - width
        if excess > 0:
            ends_at = len(name) - shared_end
            name, excess = _cut(name, ends_at + 3, len(name) - 6, excess)
            name, excess = _cut(name, 6, shared_start - 3, excess)
            name, excess = _cut(name, 0, len(name), excess)
        labels.append(name)
    if len(set(labels)) < len(labels):
        labels = [f"{i}. {label}" for i, label in enumerate(labels, start=1)]
    return labels


def dice_height_px(n_cases: int) -> int:
    """The Dice plot's height: :data:`FIGURE_SIZE_PX`'s, or taller to give each labelled case a row of its own."""
    return max(FIGURE_SIZE_PX[1], DICE_MARGIN_PX + CASE_ROW_PX * min(n_cases, MAX_LABELLED_CASES))


def _draw_dice(fig: Figure, evaluation: Evaluation) -> None:
    """Each case's Dice as a horizontal bar (names on the y axis, first case on top), the mean and pooled Dice as
    lines; the figure grows taller with the cases, and long names are shortened (full ones in metrics.json)."""
    agg = evaluation.metrics["aggregates"]["segmentation"]
    cases = [r for r in evaluation.metrics["results"] if "segmentation" in r]
    fig.set_size_inches(FIGURE_SIZE_PX[0] / DPI, dice_height_px(len(cases)) / DPI)
    ax = fig.add_subplot()
    positions = np.arange(len(cases))
    dice = [float(c["segmentation"]["dice"]) for c in cases]
    ax.barh(positions, dice, height=0.7, color=ALL_CASES_COLOUR, label="Dice of a case")
    if agg["mean_dice"] is not None:
        ax.axvline(agg["mean_dice"], color="#D55E00", linewidth=2, label=f"mean Dice = {_fmt(agg['mean_dice'])}")
    ax.axvline(
        agg["pooled_dice"],
        color="black",
        linestyle="--",
        label=f"pooled Dice (all pixels) = {_fmt(agg['pooled_dice'])}",
    )
    names = [str(c["case"]) for c in cases]
    shortened = False
    if len(cases) <= MAX_LABELLED_CASES:
        labels = short_case_labels(names)
        shortened = labels != names
        ax.set_yticks(positions, labels=labels, fontsize="small")
        for y, value in zip(positions, dice, strict=True):  # a column right of 1, clear of the bars and lines
            ax.text(1.015, float(y), f"{value:.3f}", va="center", fontsize="x-small")
    else:
        ax.set_yticks([])
    ax.set_ylim(len(cases) - 0.4, -0.6)  # the first case on top
    ax.set_xlim(0.0, 1.1)  # room for each case's number
    ax.set_xticks(np.linspace(0.0, 1.0, 6))
    where = "; names shortened with …, in full in metrics.json" if shortened else ""
    _finish(
        ax,
        f"Segmentation: Dice per case ({len(cases)} cases)",
        "Dice = 2 × overlap / (truth + predicted pixels)",
        f"Case (in case order{where})",
        "below",
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


def drawn_figure(draw: Drawer, evaluation: Evaluation) -> Figure:
    """A new figure (:data:`FIGURE_SIZE_PX`, unless ``draw`` sizes it) with ``draw``'s picture of ``evaluation``."""
    from matplotlib.figure import Figure  # imported here: the default evaluation runs without matplotlib

    fig = Figure(figsize=(FIGURE_SIZE_PX[0] / DPI, FIGURE_SIZE_PX[1] / DPI), dpi=DPI, layout="constrained")
    draw(fig, evaluation)
    return fig


def _png(draw: Drawer, evaluation: Evaluation) -> bytes:
    fig = drawn_figure(draw, evaluation)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def render_plots(evaluation: Evaluation) -> dict[str, bytes]:
    """PNG bytes by file name for every enabled metric family with a picture, in :func:`plot_files` order.

    Everything is drawn in memory first, so a drawing failure writes nothing.
    """
    import matplotlib.style

    with matplotlib.style.context("default"), warnings.catch_warnings():  # not a local matplotlibrc's style
        # a case named in a script the font lacks (中文, emoji) is drawn with boxes for those letters; the
        # metrics are unaffected, and matplotlib's warning per glyph (with its source line) was noise
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
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
