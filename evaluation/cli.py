"""Command line: ``python -m evaluation [--input DIR] [--output DIR] [--ground-truth DIR] [--config FILE] [--plots]``.

Exit status 0 with ``<output>/metrics.json`` (and, when asked for, the plots) written; 1 with one
line on stderr and nothing written when the submission or the setup is wrong: the files this
command owns in the output folder (metrics.json and the plots' names) are removed, so a previous
run's results cannot pass for this one's. Other files in the folder are never touched. 2 (argparse)
for command-line values refused as they are parsed, such as an ``--output`` that is a file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from evaluation import __version__
from evaluation.config import METRIC_NAMES, load_config
from evaluation.errors import EvaluationError
from evaluation.evaluate import run_evaluation
from evaluation.plots import plot_files, remove_files, render_plots, require_matplotlib, write_plots
from evaluation.report import METRICS_FILE, summary_lines, write_metrics
from evaluation.stopping import STOPPED, stopping_on_sigterm

DEFAULT_INPUT = Path("/input")
DEFAULT_OUTPUT = Path("/output")
# grand-challenge extracts the phase's ground-truth tarball here; older
# evaluation containers baked it into the image at the second path.
GROUND_TRUTH_DIRS = (Path("/opt/ml/input/data/ground_truth"), Path("/opt/evaluation/ground-truth"))

DESCRIPTION = """\
Score an algorithm submission on grand-challenge.org.

Reads INPUT/predictions.json (the submission's algorithm jobs) and each job's
outputs at INPUT/<job pk>/output/<socket relative path>, joins every job to the
ground truth by its input image name, computes the metrics the task config
asks for (detection F1/AP/FROC, slide AUC/F1, segmentation IoU/Dice,
major-axis accuracy) and writes OUTPUT/metrics.json as
{"results": [per case], "aggregates": {...}}. With --plots (or "plots": true
in the config) it also writes PNGs beside it: classification_roc.png,
detection_froc.png, detection_precision_recall.png, segmentation_dice.png
(those of the metrics computed; they need matplotlib).

Any problem (a failed job, a missing or extra case, coordinates in pixels,
a probability outside [0, 1], NaN, a wrong JSON type, an unknown output
socket, bad ground truth) stops the evaluation: one line on stderr, exit
status 1, no metrics.json nor plots (a previous run's are removed from
OUTPUT; other files there are left alone). An OUTPUT that is a file, or a
folder that cannot be made, is refused at once (exit status 2).
"""

EPILOG = """\
ground truth (default: the first that exists of
  /opt/ml/input/data/ground_truth, /opt/evaluation/ground-truth):
  points.json            detection: {"<image>": {"points": [[x_mm, y_mm], ...],
                         "domain": "...", "size_mm": [w, h]}}
  slides.csv|slides.json classification / major axis: case,label,major_axis_mm
                         (only the columns the metrics use: case,label for classification)
  masks/<case>.mha|.tif  segmentation masks (non-zero = foreground)
  config.json            the task config (unless --config is given)

See evaluation/README.md for the formats, the config keys and every metric.
"""


def _default_ground_truth() -> Path:
    for path in GROUND_TRUTH_DIRS:
        if path.is_dir():
            return path
    return GROUND_TRUTH_DIRS[0]


def output_folder(text: str) -> Path:
    """argparse type: a folder to write into, made if absent; refused before any work when it cannot be: a file
    at the path or above it, or a folder this process may not write in. (The algorithm's command has the same
    check, ``algorithm.options.output_folder``; the evaluation container ships without that package.)"""
    path = Path(text)
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{text}: no permission to write in this folder")
        return path
    above = next(parent for parent in path.absolute().parents if parent.exists())
    if not above.is_dir():
        raise argparse.ArgumentTypeError(f"{text} cannot be made: {above} is a file, not a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} cannot be made: no permission to write in {above}")
    return path


def owned_files(output_dir: Path) -> list[Path]:
    """The files an evaluation writes in its output folder: metrics.json and every plot it can draw.

    A failed run removes all of them and a successful one the plots it did not draw, so that what is there
    is always one run's outputs; anything else in the folder is left alone.
    """
    return [output_dir / METRICS_FILE, *(output_dir / name for name in plot_files(METRIC_NAMES))]


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser; its help is the container's documentation (``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m evaluation",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input",
        type=Path,
        default=DEFAULT_INPUT,
        metavar="DIR",
        help="folder with predictions.json and the jobs' outputs (default: %(default)s)",
    )
    parser.add_argument(
        "--output",
        type=output_folder,
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help=f"folder to write {METRICS_FILE} into (default: %(default)s)",
    )
    parser.add_argument(
        "--ground-truth",
        type=Path,
        default=None,
        metavar="DIR",
        help="ground-truth folder (default: " + " if present, else ".join(map(str, GROUND_TRUTH_DIRS)) + ")",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="task config JSON (default: config.json in the ground-truth folder, else MIDOG-style detection defaults)",
    )
    parser.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also write the plots ("
        + ", ".join(plot_files(("classification", "detection", "segmentation")))
        + ') of the metrics computed; --no-plots: never (default: the config\'s "plots", else no)',
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _evaluate(args: argparse.Namespace) -> tuple[dict[str, Any], str, list[Path], Path]:
    """Score and write: the metrics, where the config came from, the plots written and metrics.json's path."""
    ground_truth = args.ground_truth or _default_ground_truth()
    config, origin = load_config(args.config, ground_truth)
    plots = config.plots if args.plots is None else args.plots
    if plots:
        require_matplotlib()  # before the scoring: a missing library is an instant, one-line failure
    evaluation = run_evaluation(args.input, ground_truth, config)
    plot_paths = write_plots(args.output, render_plots(evaluation)) if plots else []
    undrawn = [args.output / name for name in plot_files(METRIC_NAMES) if args.output / name not in plot_paths]
    stale = remove_files(undrawn)
    if stale:
        raise EvaluationError(f"cannot remove a previous run's plot from {args.output}: {', '.join(stale)}")
    return evaluation.metrics, origin, plot_paths, write_metrics(args.output, evaluation.metrics)


def _system_refusal(exc: BaseException) -> bool:
    """A file the system would not read or write (permissions, a full disk): the organiser's to mend, shown as
    one line like the evaluation's own errors."""
    return isinstance(exc, OSError) and exc.filename is not None and exc.strerror is not None


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; 0 when metrics.json was written, 1 with one line on stderr when not.

    Every EvaluationError ends here, so a failed evaluation never leaves a partial metrics.json, nor a
    previous run's: on any failure the files this command owns in the output folder (:func:`owned_files`)
    are removed. The plots are drawn in memory, then written before metrics.json: metrics.json exists only
    when every output does.
    """
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        with stopping_on_sigterm():
            metrics, origin, plot_paths, path = _evaluate(args)
    except BaseException as exc:
        left = remove_files(owned_files(args.output))
        stopped = STOPPED.get(type(exc))
        if not isinstance(exc, EvaluationError) and not _system_refusal(exc) and stopped is None:
            raise  # a bug: its traceback, with no outputs left behind
        if args.debug and stopped is None:
            traceback.print_exc()
        also = f"; a previous run's outputs could not be removed from {args.output}: {', '.join(left)}" if left else ""
        problem = f"{exc.filename}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        print(f"evaluation failed: {stopped[0] if stopped else problem}{also}", file=sys.stderr)
        return stopped[1] if stopped else 1
    if not args.quiet:
        print(f"config: {origin}")
        for line in summary_lines(metrics):
            print(line)
        for plot in plot_paths:
            print(f"wrote {plot}")
        print(f"wrote {path} in {time.perf_counter() - start:.2f} s")
    return 0
