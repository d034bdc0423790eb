"""Re-save the models a container would use as a participant saves a network of their own, for ``test.sh``.

    python own_model.py FOLDER [--export-only]

Writes program checkpoints (``algorithm.models.save_program``) into FOLDER:

- ``detector.pt``: the detector as TorchScript (``torch.jit.script``; the engine still decodes
  a scripted torchvision RetinaNet's heads for the whole batch at once), unless ``--export-only``;
- ``segmenter.pt``, ``nuclei.pt`` and ``patch_classifier.pt``: the tumour segmenter, the
  nuclei U-Net and the patch classifier as ``torch.export`` programs (dynamic batch);
- ``slide_model.joblib`` and ``label_model.joblib``: copied (scikit-learn models, not networks).

The models are those the container would load (``/opt/ml/model``, else the bundled ones:
``models/`` of the checkout on a host). ``test.sh`` runs this inside the image (its torch)
and, with ``--own-python PY``, on the host too (``--export-only``: TorchScript of the
detector saved by torch 2.14 does not load in 2.10). Their outputs must match the bundled models'
expected outputs: the same networks in another file format. Prints one line per file.
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import torch

from algorithm.job import locate_model
from algorithm.models import load_detector, load_nuclei_segmenter, load_patch_classifier, load_segmenter, save_program
from algorithm.models.program import THRESHOLDED
from algorithm.patches.options import PatchOptions


def _detector(folder: Path) -> None:
    model, config, checkpoint = load_detector(locate_model(None, "detector.pt"))
    with warnings.catch_warnings():  # torch 2.14 deprecates TorchScript; torchvision warns when scripting
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(model)
    save_program(
        folder / "detector.pt",
        "detector",
        scripted,
        config.tile_size,
        config.mpp,
        stain=checkpoint.get("stain"),
        threshold=checkpoint.get("threshold"),
        views=config.views,
    )
    print(f"{folder / 'detector.pt'}: TorchScript, torch {torch.__version__}")


def _exported(folder: Path, name: str, kind: str, loader: Any, extra: tuple[str, ...] = ()) -> None:
    """The network in ``name`` as a torch.export program (dynamic batch), and the files beside it it needs."""
    model, config, checkpoint = loader(locate_model(None, name))
    tiles = torch.rand(2, 3, config.tile_size, config.tile_size)
    arg = next(iter(inspect.signature(model.forward).parameters))  # forward's first argument
    program = torch.export.export(model.eval(), (tiles,), dynamic_shapes={arg: {0: torch.export.Dim("batch")}})
    settings = {"threshold": checkpoint["threshold"]} if kind in THRESHOLDED and "threshold" in checkpoint else {}
    if "patches" in checkpoint:  # a patch classifier's filters
        settings["patches"] = PatchOptions.from_dict(checkpoint["patches"])
    save_program(folder / name, kind, program, config.tile_size, config.mpp, stain=checkpoint.get("stain"), **settings)
    print(f"{folder / name}: torch.export, torch {torch.__version__}")
    for other in extra:
        shutil.copy(locate_model(None, other), folder / other)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--export-only", action="store_true", help="no TorchScript detector")
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    if not args.export_only:
        _detector(args.folder)
    _exported(args.folder, "segmenter.pt", "segmenter", load_segmenter, ("slide_model.joblib",))
    _exported(args.folder, "nuclei.pt", "nuclei", load_nuclei_segmenter)
    _exported(args.folder, "patch_classifier.pt", "patch-classifier", load_patch_classifier, ("label_model.joblib",))
    return 0


if __name__ == "__main__":
    sys.exit(main())
