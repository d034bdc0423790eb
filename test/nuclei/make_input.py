"""Make the nuclei task's test input (deterministic): ``.venv/bin/python test/nuclei/make_input.py``.

Writes ``test/nuclei/input/``: grand-challenge's layout for the ``nuclei``
task (``inputs.json`` naming the ``histopathology-region-of-interest-cropout``
socket, the image in ``images/histopathology-roi-cropout/``). The image is a
synthetic H&E region of interest from the kit's own generator
(``training.synth``: 768 x 768 px at 0.25 um/px, tumour, deflate-compressed
tiled TIFF with resolution tags): the shared data's real images are not
copied into the project. Then ``test/nuclei/make_expected.sh`` makes the
expected output from it with the bundled model.
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

from algorithm.interface.tasks import NUCLEI  # noqa: E402
from algorithm.io.atomic import write_json_atomic  # noqa: E402
from training.synth import SynthConfig, generate_slide  # noqa: E402
from training.synth.pyramid import TiffOptions  # noqa: E402

SIZE = 768
SEED = 7100
IMAGE_NAME = f"synthetic-roi-{SEED}.tif"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE, help="where to write input/ (default: test/nuclei)")
    args = parser.parse_args(argv)
    root = args.root / "input"
    shutil.rmtree(root, ignore_errors=True)
    folder = root / NUCLEI.slide.relative_path
    folder.mkdir(parents=True)
    config = SynthConfig(seed=SEED, width=SIZE, height=SIZE, label="tumour", mitoses=2, imposters=2, confounders=0.0)
    with tempfile.TemporaryDirectory() as work:
        result = generate_slide(config, work, name="roi", options=TiffOptions(compression="deflate", tile=256))
        shutil.copy(result.files.slide, folder / IMAGE_NAME)
    entry = {
        "file": None,
        "image": {"name": IMAGE_NAME},
        "value": None,
        "interface": {
            "slug": NUCLEI.slide.slug,
            "kind": "Image",
            "super_kind": "Image",
            "relative_path": NUCLEI.slide.relative_path,
        },
    }
    write_json_atomic(root / "inputs.json", [entry])
    size = (folder / IMAGE_NAME).stat().st_size
    print(f"wrote {folder / IMAGE_NAME} ({size / 1e6:.2f} MB) and {root / 'inputs.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
