"""``python -m algorithm``: the algorithm container's command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from algorithm import __version__
from algorithm.console import configure_logging, debugging
from algorithm.errors import ConfigError, KitError
from algorithm.interface.inputs import choose_task
from algorithm.interface.outputs import missing_folders, output_paths, remove_outputs
from algorithm.interface.tasks import TASKS, Task, load_tasks
from algorithm.io.atomic import write_bytes_atomic
from algorithm.options import add_views_argument, microns_per_pixel, output_folder, positive_int, probability
from algorithm.slide import open_slide, slide_files
from algorithm.tiling import tile_grid
from algorithm.tissue import tissue_mask

if TYPE_CHECKING:
    from algorithm.job import JobOptions
    from algorithm.slide.base import SlideReader

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Run the pathology algorithm on whole-slide images, as grand-challenge runs the
container: inputs under --input, outputs under --output.

Pipeline: read the slide -> tissue mask -> stain normalisation -> tile-wise
models -> slide-level outputs (points in millimetres, floats, images).

Tasks: midog (mitotic figures, RetinaNet), help (tumour likelihood, major
axis and its line, tumour heatmap: FPN segmenter + slide models), nuclei
(a nuclei mask on the image's grid, uint8 0/1 MHA: U-Net, nuclei.pt; same
input socket as midog), label (a slide's label from its patches, the HER2
study's two levels: slide-label likelihood and call; patch CNN
patch_classifier.pt + label model label_model.joblib), all (midog, help and
nuclei). Several tasks with different input
sockets (midog,help): each job's inputs.json says which one it is.

grand-challenge's two ways of running a container: exec (default) runs one
job and exits; invoke (--api-method invoke, or $GRAND_CHALLENGE_COMPONENT_API_METHOD)
loads the models once and serves GET /health and POST /invoke (one job per
call) on 127.0.0.1:$GRAND_CHALLENGE_COMPONENT_USER_WEBSERVER_PORT (default 4743).
"""

EPILOG = """\
examples:
  python -m algorithm                                    the container's job: /input -> /output
  python -m algorithm --input slide.tiff --output out/   run on one slide file
  python -m algorithm --input test/input --output out/ --device cpu
  python -m algorithm --task help --input slide.tiff --output out/   tumour likelihood, axis, heatmap
  python -m algorithm --task nuclei --input roi.tiff --output out/   nuclei mask (MHA on the image's grid)
  python -m algorithm --task label --input slide.tiff --output out/   slide-label likelihood and call
  python -m algorithm --task all --input slide.tiff --output out/ --qc out.png   and a picture of it all
  python -m algorithm --inspect slide.tiff      check that a slide opens: levels, resolution, tissue
  python -m algorithm --inspect /input          the same for every slide in a folder
  python -m algorithm --api-method invoke --port 4743   serve grand-challenge's invoke API
  python -m algorithm cohort --input slides/ --output out/   many slides on Ray (see: cohort --help)
  python -m algorithm program NET.pt2 --kind detector ...    a network of yours as a model file (program --help)
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line's options (also what ``--help`` prints)."""
    parser = argparse.ArgumentParser(
        prog="python -m algorithm",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input",
        type=Path,
        default=Path("/input"),
        help="a slide file or grand-challenge input folder (default: /input)",
    )
    parser.add_argument(
        "--output", type=output_folder, default=Path("/output"), help="output folder (default: /output)"
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="folder with the task's models: detector.pt, segmenter.pt, slide_model.joblib, nuclei.pt, "
        "patch_classifier.pt, label_model.joblib; a .pt file is the kit's checkpoint or a network of your own "
        "saved with algorithm.models.save_program (default: /opt/ml/model if present, else the bundled models)",
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if usable), cpu, cuda or cuda:N (default: auto)")
    default_task = os.environ.get("ALGORITHM_TASK", "midog")
    parser.add_argument(
        "--task",
        default=default_task,
        help=f"which sockets to read and write, and so which models run: {', '.join(TASKS)}, or "
        f"several with different input sockets, comma-separated (midog,help: each job's "
        f"inputs.json decides) (default: $ALGORITHM_TASK, else midog; now {default_task})",
    )
    parser.add_argument(
        "--task-file",
        type=Path,
        help="a JSON file naming your challenge's input and output sockets, instead of --task "
        "(README: Your challenge's sockets)",
    )
    parser.add_argument(
        "--api-method",
        choices=("exec", "invoke"),
        help="exec: run one job; invoke: serve GET /health and POST /invoke, one job per call "
        "(default: $GRAND_CHALLENGE_COMPONENT_API_METHOD, else exec)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help="invoke: the port to listen on (default: $GRAND_CHALLENGE_COMPONENT_USER_WEBSERVER_PORT, "
        "else 4743; 0: a free one, logged)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="invoke: the address to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--batch-size", type=positive_int, help="tiles per model call (default: 8 on the CPU, 256 on a GPU)"
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        help="threads reading and normalising tiles (default: the CPUs this process may use)",
    )
    parser.add_argument(
        "--device-decode",
        action=argparse.BooleanOptionalAction,
        help="decode the slide's stored JPEG tiles on the GPU (nvJPEG) rather than on the CPU's cores (default: "
        "on with a GPU; TIFF-family and DICOM slides whose JPEG the GPU reads as the CPU does, else ignored)",
    )
    parser.add_argument(
        "--jpeg-scaling",
        action=argparse.BooleanOptionalAction,
        help="shrink JPEG tiles by 2, 4 or 8 while decoding them on the CPU (libjpeg's DCT scaling: about twice as "
        "fast, pixels within decoder noise of the exact box shrink); --no-jpeg-scaling for the box shrink's bytes "
        "(default: for mitotic-figure detection, whose detections it moves by under 0.5 um and 0.02; not for "
        "probability maps, which it moves by more)",
    )
    parser.add_argument(
        "--threshold",
        type=probability,
        help="decision threshold for mitotic figures (default: the model's validated one)",
    )
    add_views_argument(parser)
    parser.add_argument(
        "--qc",
        type=Path,
        metavar="PNG",
        help="also draw the job's QC picture to this file: the slide's thumbnail with the tissue outline, the "
        "mitotic figures coloured by score, the tumour heatmap and axis, the nuclei mask, the label task's "
        "patches, a caption with each output's figure (as `cohort --qc`; no second inference; exec mode only)",
    )
    parser.add_argument(
        "--inspect",
        type=Path,
        metavar="PATH",
        help="print what the reader sees in a slide (or every slide in a folder) and exit",
    )
    parser.add_argument(
        "--mpp",
        type=microns_per_pixel,
        help="microns per pixel for slides whose file does not say (pictures, some DICOM and TIFF); a "
        "file's own resolution is kept, with a warning when it differs",
    )
    parser.add_argument("--tile-size", type=positive_int, default=512, help="tile size in pixels for --inspect's grid")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors, and debug messages")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors (no summary lines)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Inspect slides, run one job (exec mode) or serve jobs (invoke mode); the exit status."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["cohort"]:  # python -m algorithm cohort ...: its own parser (algorithm/cohort/cli.py)
        from algorithm.cohort.cli import main as cohort_main

        return cohort_main(arguments[1:])
    if arguments[:1] == ["program"]:  # python -m algorithm program ...: a network of yours as a model file
        from algorithm.models.program_cli import main as program_main

        return program_main(arguments[1:])
    args = build_parser().parse_args(argv)
    configure_logging(quiet=args.quiet, debug=args.debug)
    if args.inspect is not None:
        failed = 0
        for path in _slides_under(args.inspect):
            try:
                print(inspect(path, mpp=args.mpp, tile_size=args.tile_size))
            except KitError as exc:  # report every slide, fail at the end
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
        return 1 if failed else 0
    tasks = load_tasks(args.task, args.task_file)
    # torch: imported only when a job runs or is served (fast --help)
    from algorithm.job import run_job
    from algorithm.serve import api_method, port_from_env, serve

    invoke = api_method(args.api_method) == "invoke"
    if args.qc is not None:
        _check_qc_path(args.qc, invoke, args.output)
    if invoke:
        port = args.port if args.port is not None else port_from_env()
        if not 0 <= port <= 65535:
            raise ConfigError(f"--port must be 0-65535, got {port}")
        return serve(_options(args, tasks[0]), tasks, host=args.host, port=port, debug=debugging(argv))
    task = choose_task(args.input, tasks)
    paths = output_paths(args.output, task)
    made = missing_folders(args.output, paths)
    try:
        result = run_job(_options(args, task))
        if args.qc is not None:
            from algorithm.qc.job_view import job_picture

            write_bytes_atomic(args.qc, job_picture(result, task, args.output))
    except BaseException:
        # failed, interrupted or stopped, the picture included: none of the task's outputs is left, neither
        # this job's nor a previous run's at the same paths (they would pass for this input's)
        remove_outputs(paths, made)
        raise
    if args.qc is not None:
        logger.info("QC picture: %s", args.qc)
    return 0


def _check_qc_path(path: Path, invoke: bool, output: Path) -> None:
    """Refuse a --qc that cannot be written before the job runs (no outputs then a failure); its folder may
    be the job's output folder, which the job makes."""
    if invoke:
        raise ConfigError("--qc draws one job's picture: not with --api-method invoke")
    if path.suffix.lower() != ".png":
        raise ConfigError(f"--qc {path}: the picture is a PNG; name it <something>.png")
    if path.is_dir():
        raise ConfigError(f"--qc {path}: is a folder; name the picture's file")
    if path.exists() and not path.is_file():
        raise ConfigError(f"--qc {path}: is not a regular file (a device, a pipe or a socket); name a file")
    if path.parent.is_dir():
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise ConfigError(f"--qc {path}: no permission to write in {path.parent}")
        return
    if path.parent.resolve() == output.resolve():
        return
    if path.parent.exists():
        raise ConfigError(f"--qc {path}: {path.parent} is a file, not a folder")
    raise ConfigError(f"--qc {path}: folder {path.parent} not found")


def _options(args: argparse.Namespace, task: Task) -> JobOptions:
    from algorithm.job import JobOptions

    return JobOptions(
        input=args.input,
        output=args.output,
        task=task,
        model_dir=args.model_dir,
        device=args.device,
        mpp=args.mpp,
        batch_size=args.batch_size,
        workers=args.workers,
        device_decode=args.device_decode,
        jpeg_scaling=args.jpeg_scaling,
        threshold=args.threshold,
        views=args.views,
    )


def _slides_under(path: Path) -> list[Path]:
    if path.is_dir():
        return slide_files(path)
    return [path]


def inspect(path: Path, mpp: float | None = None, tile_size: int = 512) -> str:
    """A short human-readable account of a slide: format, levels, resolution, tissue, tiles."""
    with open_slide(path, default_mpp=mpp) as slide:
        w, h = slide.dimensions
        levels = ", ".join(f"{lw}x{lh}" for lw, lh in slide.level_dimensions)
        lines = [f"{path}", f"  reader      {slide.backend}", f"  size        {w} x {h} px", f"  levels      {levels}"]
        if slide.has_mpp:
            mx, my = slide.mpp
            lines.append(f"  resolution  {mx:.4f} x {my:.4f} um/px ({w * mx / 1000:.2f} x {h * my / 1000:.2f} mm)")
        else:
            lines.append("  resolution  unknown (pass --mpp)")
        lines.append(f"  stored      {_stored_tiles(slide)}")
        mask = tissue_mask(slide)
        grid = tile_grid(slide, tile_size, tile_size // 8, mask=mask)
        lines.append(f"  tissue      {100 * mask.fraction:.1f} % of the slide")
        lines.append(f"  tiles       {len(grid)} of {grid.candidates} ({tile_size} px, level-0) contain tissue")
    return "\n".join(lines)


def _stored_tiles(slide: SlideReader) -> str:
    """How the tile engine reads this slide: each stored tile decoded once, or regions through the reader."""
    stored = slide.native_tiles()
    if stored is None:
        return f"none read directly: the tile engine reads regions through {slide.backend}"
    w, h = stored.tile_size(0)
    kind = "JPEG: with --device cuda, nvJPEG may decode them" if stored.jpeg_sample(0) else "not JPEG"
    return f"{w} x {h} px tiles, each decoded once by the tile engine ({kind})"
