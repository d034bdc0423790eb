"""Make the label task's test input (deterministic): ``.venv/bin/python test/slide-label/make_input.py``.

Writes ``test/slide-label/input/``: grand-challenge's layout for the ``label``
task (``inputs.json`` naming the ``whole-slide-image`` socket, the slide in
``images/whole-slide-image/``). The slide comes from the kit's own generator
(``training.synth``): 4096 x 4096 px at 0.25 um/px (1 mm square), scanner D (not a
training scanner), tumour, blood-red red cells (``--haemoglobin 1``, as the label models were
trained on), a positive slide-level label (``--positive yes``: the
tumour nuclei's diffuse change the label models were trained to find), JPEG
tiles, a two-level pyramid with resolution tags. Then
``test/slide-label/make_expected.sh`` makes the expected output with the bundled models.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))  # the repository root, for `import training`
sys.path.insert(0, str(HERE.parent))  # test/, for make_test_case's inputs.json writer

from make_test_case import inputs_json  # type: ignore[import-not-found]  # noqa: E402

from algorithm.interface.tasks import LABEL  # noqa: E402
from training.synth import SynthConfig, generate_slide  # noqa: E402

SIZE = 4096
SEED = 8100
IMAGE_NAME = f"synthetic-slide-{SEED}.tif"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE, help="where to write input/ (default: test/slide-label)")
    args = parser.parse_args(argv)
    root = args.root / "input"
    shutil.rmtree(root, ignore_errors=True)
    folder = root / LABEL.slide.relative_path
    folder.mkdir(parents=True)
    config = SynthConfig(
        seed=SEED,
        width=SIZE,
        height=SIZE,
        scanner="D",
        label="tumour",
        positive=True,
        haemoglobin=1.0,
        mitoses_per_mm2=5.0,
    )
    with tempfile.TemporaryDirectory() as work:
        result = generate_slide(config, work, name="slide")
        shutil.copy(result.files.slide, folder / IMAGE_NAME)
    inputs_json(root, LABEL.slide.slug, LABEL.slide.relative_path, IMAGE_NAME)
    size = (folder / IMAGE_NAME).stat().st_size
    print(f"wrote {folder / IMAGE_NAME} ({size / 1e6:.2f} MB) and {root / 'inputs.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
