"""``python -m algorithm cohort``: every slide of a folder or CSV through the container's job, on Ray."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from algorithm.console import configure_logging
from algorithm.errors import ConfigError
from algorithm.options import add_views_argument, microns_per_pixel, output_folder, positive_int, probability

DESCRIPTION = """\
Run the algorithm on a cohort of slides (hundreds, before uploading; a whole test
set), with the container's own job code: each slide's outputs land in OUT/<job>/output/
exactly as the container writes /output, and OUT/predictions.json lists them as
grand-challenge does, so `python -m evaluation --input OUT` scores the cohort.

Slides run on Ray workers that load the models once: a local cluster by default,
or an existing one with --address (its nodes must see the kit, the slides and OUT
at the same paths). Slides whose outputs are complete are skipped, so a rerun
finishes an interrupted or partly failed run; a failing slide is recorded with its
error and the others go on; Ctrl-C stops cleanly, leaving no slide half-written.

Writes OUT/cohort.csv (one row per slide: its image name, status, seconds, tiles, each
output's figures, error), OUT/predictions.json, with --qc OUT/<job>/qc.png and OUT/index.html,
and prints a summary. Exit status 1 when any slide failed.
"""

EPILOG = """\
examples:
  python -m algorithm cohort --input slides/ --output cohort-out/
  python -m algorithm cohort --input slides.csv --output out/ --task all --qc --workers 4
  python -m algorithm cohort --input slides/ --output out/ --address 10.0.0.5:6379   (after `ray start --head`)
"""


def build_parser() -> argparse.ArgumentParser:
    """The cohort command's options."""
    parser = argparse.ArgumentParser(
        prog="python -m algorithm cohort",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input",
        type=Path,
        required=True,
        help="a folder of slides (searched recursively) or a .csv with a "
        "'slide' column (paths relative to the CSV; a grand-challenge input folder per row works too)",
    )
    parser.add_argument("--output", type=output_folder, required=True, help="the cohort's output folder")
    default_task = os.environ.get("ALGORITHM_TASK", "midog")
    parser.add_argument(
        "--task",
        default=default_task,
        help=f"midog, help, nuclei, label or all; one task per cohort (default: $ALGORITHM_TASK, else midog; "
        f"now {default_task})",
    )
    parser.add_argument(
        "--task-file",
        type=Path,
        help="a JSON file naming your challenge's input and output sockets, instead of --task "
        "(README: Your challenge's sockets)",
    )
    parser.add_argument(
        "--address", help="join this Ray cluster (as `ray start --head` prints it) instead of a local one"
    )
    parser.add_argument(
        "--workers", type=positive_int, help="Ray workers, each loading the models once (default: one per GPU, else 2)"
    )
    parser.add_argument("--cpus-per-worker", type=float, default=1.0, help="Ray CPUs each worker reserves (default: 1)")
    parser.add_argument(
        "--gpus-per-worker",
        type=float,
        help="Ray GPUs each worker reserves (default: 1 if the cluster has GPUs, else 0)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        help="torch threads per worker (default: what python -m algorithm uses here, so the outputs are "
        "byte-identical to it; fewer run several CPU workers faster, changing the last bits of scores)",
    )
    parser.add_argument("--qc", action="store_true", help="draw each slide's QC picture and write index.html")
    parser.add_argument(
        "--qc-size", type=positive_int, default=1024, help="the QC picture's longer side in pixels (default: 1024)"
    )
    parser.add_argument(
        "--model-dir", type=Path, help="the task's models (default: /opt/ml/model, else the bundled ones)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA if the worker has a GPU), cpu or cuda (default: auto; Ray gives each worker its own GPU, "
        "so there is no cuda:N here)",
    )
    parser.add_argument(
        "--mpp",
        type=microns_per_pixel,
        help="microns per pixel for slides whose file does not say (pictures, some DICOM and TIFF); a "
        "file's own resolution is kept, with a warning when it differs",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, help="tiles per model call (default: 8 on the CPU, 256 on a GPU)"
    )
    parser.add_argument(
        "--readers", type=positive_int, help="tile-reading threads per job (the single job's --workers)"
    )
    parser.add_argument(
        "--threshold", type=probability, help="decision threshold for mitotic figures (default: the model's)"
    )
    add_views_argument(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors, and debug messages")
    parser.add_argument("--quiet", action="store_true", help="only warnings, errors and the summary")
    return parser


def _default_threads() -> int:
    """torch's intra-op threads in a fresh process here: what ``python -m algorithm`` would use."""
    import torch

    return int(torch.get_num_threads())


def main(argv: list[str] | None = None) -> int:
    """Run the cohort; 0 when every slide is done or skipped, 1 when any failed."""
    from algorithm.cohort.cluster import ClusterOptions
    from algorithm.cohort.record import FAILED
    from algorithm.cohort.run import run_cohort
    from algorithm.cohort.slides import list_slides
    from algorithm.cohort.worker import WorkerSettings
    from algorithm.interface.tasks import load_tasks

    args = build_parser().parse_args(argv)
    configure_logging(quiet=args.quiet, debug=args.debug)
    slides = list_slides(args.input.resolve(), args.output.resolve())  # bad input: one line before anything starts
    tasks = load_tasks(args.task, args.task_file)
    if len(tasks) != 1:
        raise ConfigError(f"--task {args.task}: a cohort runs one task on every slide; give one")
    cluster = ClusterOptions(
        address=args.address,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
    )
    settings = WorkerSettings(
        task=tasks[0],
        output=args.output.resolve(),
        model_dir=None if args.model_dir is None else args.model_dir.resolve(),
        device=args.device,
        mpp=args.mpp,
        batch_size=args.batch_size,
        readers=args.readers,
        threshold=args.threshold,
        views=args.views,
        threads=args.threads if args.threads is not None else _default_threads(),
        qc=args.qc,
        qc_side=args.qc_size,
    )
    rows = run_cohort(slides, settings, cluster)
    return 1 if any(row.status == FAILED for row in rows) else 0
