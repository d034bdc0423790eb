"""Generate the algorithm container's test case (deterministic): ``python test/make_test_case.py``.

    .venv/bin/python test/make_test_case.py [--model-dir DIR] [--root DIR] [--inputs-only]

Writes, replacing what is there (``--root DIR`` writes elsewhere; default: this folder):

- ``input/``: the job as grand-challenge lays it out: ``inputs.json`` naming
  the ``histopathology-region-of-interest-cropout`` socket and the slide in
  ``images/histopathology-roi-cropout/<name>.tif``. The slide is synthetic
  (``training.synth``): 2048 x 2048 px at 0.25 um/px (0.5 mm square), scanner
  C (not one of the training scanners A/B), tumour, 15 mitotic figures and 15
  imposters, JPEG tiles, a two-level pyramid with resolution tags.
- ``truth/``: its truth: ``<name>.midog.json`` (MIDOG format, category 1 =
  mitotic figure, 2 = imposter) and ``<name>.truth.json`` (configuration,
  scanner, counts).
- ``edge-cases/``: inputs for the failure checks in ``test.sh``, each laid out
  like ``input/``:
    ``no-tissue/input``      a plain glass-coloured pyramidal TIFF (resolution
                             tags, no tissue): the job must succeed with an
                             empty points file (``no-tissue/expected_output``);
    ``corrupt-slide/input``  the test slide truncated to half its bytes: the job
                             must fail with one message and write nothing;
    ``unknown-socket/input`` an ``inputs.json`` naming a socket the task does
                             not take: the job must fail and write nothing.
- ``slide-level/input``: the same slide for the slide-level task (``--task
  help``: HeLP-style tumour likelihood, major axis, its line and the tumour
  heatmap), under that task's ``whole-slide-image`` socket.
- ``expected_output/`` and ``slide-level/expected_output/``: what ``python -m
  algorithm`` writes for them on this machine's CPU with the models in
  ``--model-dir`` (default: the bundled ``models/``). ``model.sha256`` records
  which models those were.

Then prints the F1 at 7.5 um (MIDOG's radius) of the expected output against
the truth, scored with grand-challenge-metrics' ``score_detection`` as MIDOG's
evaluation does. ``--inputs-only`` writes the inputs and truth only (no model
needed). Run it with the repository's virtual environment (it imports
``training`` and runs ``python -m algorithm`` with the same interpreter).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # the repository root, for `import training`

from algorithm.interface.tasks import HELP, MIDOG  # noqa: E402
from algorithm.io.atomic import write_json_atomic  # noqa: E402
from training.synth import SynthConfig, generate_slide  # noqa: E402
from training.synth.pyramid import TiffOptions, write_pyramid  # noqa: E402
from training.synth.scanners import get_scanner  # noqa: E402

SEED = 7100
SLIDE = SynthConfig(
    seed=SEED,
    width=2048,
    height=2048,
    mpp=0.25,
    scanner="C",
    label="tumour",
    mitoses=15,
    imposters=15,
    confounders=0.0,  # the committed input: made before the generator had confounders
)
# top_max=512: a level-0 of 2048 px and a 512 px level below it, as a scanner's pyramid would have.
TIFF = TiffOptions(compression="jpeg", jpeg_quality=get_scanner(SLIDE.scanner).jpeg_quality, tile=512, top_max=512)
NAME = f"case-{SEED:06d}"
IMAGE_NAME = f"{NAME}.tif"
GLASS_NAME = "glass.tif"
GLASS_SIZE = (1024, 1024)
UNKNOWN_SOCKET = "histopathology-region-of-interest"  # a plausible slug of another challenge
MIDOG_RADIUS_MM = 0.0075
MODELS = ("detector.pt", "segmenter.pt", "slide_model.joblib")


def inputs_json(root: Path, slug: str, relative_path: str, image_name: str) -> None:
    """grand-challenge's ``inputs.json``: one socket value, the image in ``<root>/<relative_path>/``."""
    entry = {
        "file": None,
        "image": {"name": image_name},
        "value": None,
        "interface": {"slug": slug, "kind": "Image", "super_kind": "Image", "relative_path": relative_path},
    }
    write_json_atomic(root / "inputs.json", [entry])


def glass_slide(path: Path) -> None:
    """A plain slide of scanner C's glass colour: pyramidal tiled TIFF with resolution tags, no tissue."""
    colour = np.round(get_scanner(SLIDE.scanner).i0).astype(np.uint8)
    write_pyramid(
        path,
        *GLASS_SIZE,
        SLIDE.mpp,
        lambda x, y, w, h, d: np.broadcast_to(colour, (h, w, 3)).copy(),
        TiffOptions(compression="deflate", tile=256, top_max=256),
        description="plain glass, no tissue (test/make_test_case.py)",
    )


def make_inputs(root: Path) -> tuple[Path, Path]:
    """Write input/, truth/ and edge-cases/*/input under ``root``; return (slide, MIDOG truth file)."""
    for sub in ("input", "truth", "edge-cases", "slide-level"):
        shutil.rmtree(root / sub, ignore_errors=True)
    slide_dir = root / "input" / MIDOG.slide.relative_path
    slide_dir.mkdir(parents=True)
    (root / "truth").mkdir()
    with tempfile.TemporaryDirectory() as tmp:
        result = generate_slide(SLIDE, tmp, name=NAME, options=TIFF)
        print(result.summary())
        slide = slide_dir / IMAGE_NAME
        shutil.move(result.files.slide, slide)
        midog = json.loads(result.files.midog.read_text())
        for image in midog["images"]:
            image["file_name"] = IMAGE_NAME
        truth_file = root / "truth" / f"{NAME}.midog.json"
        write_json_atomic(truth_file, midog)
        shutil.copyfile(result.files.truth, root / "truth" / f"{NAME}.truth.json")
    inputs_json(root / "input", MIDOG.slide.slug, MIDOG.slide.relative_path, IMAGE_NAME)
    slide_level = root / "slide-level" / "input"
    (slide_level / HELP.slide.relative_path).mkdir(parents=True)
    shutil.copyfile(slide, slide_level / HELP.slide.relative_path / IMAGE_NAME)
    inputs_json(slide_level, HELP.slide.slug, HELP.slide.relative_path, IMAGE_NAME)

    edge = root / "edge-cases"
    no_tissue = edge / "no-tissue" / "input"
    (no_tissue / MIDOG.slide.relative_path).mkdir(parents=True)
    glass_slide(no_tissue / MIDOG.slide.relative_path / GLASS_NAME)
    inputs_json(no_tissue, MIDOG.slide.slug, MIDOG.slide.relative_path, GLASS_NAME)

    corrupt = edge / "corrupt-slide" / "input"
    (corrupt / MIDOG.slide.relative_path).mkdir(parents=True)
    data = slide.read_bytes()
    (corrupt / MIDOG.slide.relative_path / IMAGE_NAME).write_bytes(data[: len(data) // 2])
    inputs_json(corrupt, MIDOG.slide.slug, MIDOG.slide.relative_path, IMAGE_NAME)

    unknown = edge / "unknown-socket" / "input"
    other_path = "images/histopathology-roi"
    (unknown / other_path).mkdir(parents=True)
    shutil.copyfile(no_tissue / MIDOG.slide.relative_path / GLASS_NAME, unknown / other_path / GLASS_NAME)
    inputs_json(unknown, UNKNOWN_SOCKET, other_path, GLASS_NAME)
    return slide, truth_file


def run_algorithm(input_dir: Path, output_dir: Path, model_dir: Path, task: str = "midog") -> None:
    """``python -m algorithm`` on the CPU, as a user would run it; replaces ``output_dir``."""
    shutil.rmtree(output_dir, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "algorithm",
        "--input",
        str(input_dir),
        "--output",
        str(output_dir),
        "--model-dir",
        str(model_dir),
        "--device",
        "cpu",
        "--task",
        task,
    ]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        raise SystemExit(f"make_test_case.py: error: python -m algorithm failed on {input_dir} (exit {run.returncode})")


def truth_points_mm(truth_file: Path, mpp: float) -> list[list[float]]:
    """Centres of the mitotic figures (category 1) in millimetres, as MIDOG's evaluation reads them."""
    data = json.loads(truth_file.read_text())
    return [
        [(a["bbox"][0] + a["bbox"][2]) / 2 * mpp / 1000, (a["bbox"][1] + a["bbox"][3]) / 2 * mpp / 1000, 0.0]
        for a in data["annotations"]
        if a["category_id"] == 1
    ]


def score(expected: Path, truth_file: Path) -> str:
    from grand_challenge_metrics.scorers import score_detection

    points = json.loads(expected.read_text())["points"]
    predictions = [p["point"] for p in points if p["name"] == "mitotic figure"]
    truth = truth_points_mm(truth_file, SLIDE.mpp)
    s = score_detection(ground_truth=truth, predictions=predictions, radius=MIDOG_RADIUS_MM)
    tp, fp, fn = s.true_positives, s.false_positives, s.false_negatives
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    return (
        f"F1 at 7.5 um: {f1:.3f} (TP {tp}, FP {fp}, FN {fn}; {len(truth)} mitotic figures in the truth, "
        f"{len(predictions)} detections, {len(points)} candidates)"
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(root: Path = HERE, model_dir: Path | None = None, inputs_only: bool = False) -> None:
    root = Path(root)
    slide, truth_file = make_inputs(root)
    print(f"inputs: {slide.relative_to(root)} ({slide.stat().st_size / 1e6:.2f} MB), truth, edge cases")
    if inputs_only:
        return
    model_dir = Path(model_dir) if model_dir is not None else REPO / "models"
    missing = [name for name in MODELS if not (model_dir / name).is_file()]
    if missing:
        raise SystemExit(f"make_test_case.py: error: no {', '.join(missing)} in {model_dir}; give --model-dir DIR")
    run_algorithm(root / "input", root / "expected_output", model_dir)
    run_algorithm(
        root / "edge-cases" / "no-tissue" / "input", root / "edge-cases" / "no-tissue" / "expected_output", model_dir
    )
    run_algorithm(root / "slide-level" / "input", root / "slide-level" / "expected_output", model_dir, task="help")
    (root / "model.sha256").write_text("".join(f"{sha256(model_dir / name)}  {name}\n" for name in MODELS))
    print(f"expected output made with the models in {model_dir} (test/model.sha256)")
    print(score(root / "expected_output" / MIDOG.outputs["mitotic_figures"].relative_path, truth_file))
    out = root / "slide-level" / "expected_output"
    truth = json.loads(truth_file.with_name(f"{NAME}.truth.json").read_text())
    likelihood = json.loads((out / HELP.outputs["tumour_probability"].relative_path).read_text())
    axis = json.loads((out / HELP.outputs["tumour_major_axis_um"].relative_path).read_text())
    print(
        f"slide level: tumour likelihood {likelihood:.3f} (truth: {truth['label']}), major axis {axis:.0f} um "
        f"(truth {truth['tumour']['major_axis_um']:.0f} um)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=HERE, help="where to write (default: this folder)")
    parser.add_argument(
        "--model-dir", type=Path, help=f"folder with {', '.join(MODELS)} (default: the repository's models/)"
    )
    parser.add_argument("--inputs-only", action="store_true", help="write inputs and truth only, no expected output")
    args = parser.parse_args()
    main(args.root, args.model_dir, args.inputs_only)
