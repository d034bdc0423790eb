"""``python -m algorithm program``: a TorchScript or torch.export file made a model file the container loads."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

from algorithm.console import configure_logging
from algorithm.errors import ConfigError, KitError
from algorithm.io.readable import readable_file
from algorithm.options import microns_per_pixel, positive_int, probability

if TYPE_CHECKING:  # torch and numpy load only when the command runs (a fast --help)
    from algorithm.stain.base import Normaliser

# the file each kind is loaded from (algorithm.job: not imported here, it loads torch; tied by a test)
KIND_FILES = {
    "detector": "detector.pt",
    "segmenter": "segmenter.pt",
    "nuclei": "nuclei.pt",
    "patch-classifier": "patch_classifier.pt",
}

DESCRIPTION = """\
Wrap a network of your own, saved as TorchScript (torch.jit.save) or as a torch.export
program (torch.export.save, a .pt2 file), into the model file the container loads for
KIND (algorithm.models.save_program does the same from Python): the file name stays
the kit's (detector.pt, segmenter.pt, nuclei.pt, patch_classifier.pt), so the image,
./export.sh and ./test.sh --model-dir need nothing else.

The network takes a batch (N, 3, H, W) float in [0, 1] of --tile-size px tiles at --mpp
um/px (normalised to the stain target, when given) and returns what the kit's own
network of KIND returns: a detector torchvision's list of {"boxes", "scores", "labels"}
dicts (label 1: mitotic figure); a segmenter or nuclei model (N, 1, h, w) logits; a patch
classifier (N,) logits, one channel. It is run on three random tiles and on the first
alone, and its output checked, before anything is written. Save it with the torch of the
image that will run it.
"""

EPILOG = """\
examples:
  python -m algorithm program my_detector.pt2 --kind detector --tile-size 512 --mpp 0.25 \\
      --threshold 0.6 --stain-target target.png --out my-model/
  python -m algorithm program scripted_unet.pt --kind nuclei --tile-size 256 --mpp 0.5 --out my-model/nuclei.pt
"""


def build_parser() -> argparse.ArgumentParser:
    """The program command's options."""
    parser = argparse.ArgumentParser(
        prog="python -m algorithm program",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("network", type=Path, help="TorchScript file (torch.jit.save) or torch.export program (.pt2)")
    parser.add_argument(
        "--kind", required=True, choices=list(KIND_FILES), help="which of the kit's networks it replaces"
    )
    parser.add_argument("--tile-size", type=positive_int, required=True, help="tile side in pixels the network takes")
    parser.add_argument("--mpp", type=microns_per_pixel, required=True, help="microns per pixel of those tiles")
    parser.add_argument("--threshold", type=probability, help="decision threshold (detector, nuclei; default 0.5)")
    parser.add_argument("--views", type=int, choices=(1, 2, 4), help="detector: test-time mirror views (default 1)")
    parser.add_argument(
        "--stain-target",
        type=Path,
        help="an RGB image of the colours the network was trained on: each slide is normalised to it "
        "(default: none, tiles as the slide is)",
    )
    parser.add_argument(
        "--stain",
        default="macenko",
        choices=("macenko", "vahadane", "reinhard"),
        help="the normalisation fitted to --stain-target (default: macenko)",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="the file to write, or a folder (an existing one, or a name ending in /: made) to write KIND's file in",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Write the model file; 0 when written."""
    args = build_parser().parse_args(argv)
    configure_logging(quiet=args.quiet, debug=args.debug)
    import torch

    from algorithm.engine.model_files import archive_kind, export_load, load_torchscript
    from algorithm.engine.models import error_reason
    from algorithm.models.program import save_program

    out, new_folder = _output(args.out, args.kind)
    _check_name(out, args.kind)
    settings = {} if args.views is None else {"views": args.views}
    if args.views is not None and args.kind != "detector":
        raise ConfigError(f"--views is a detector's; a {args.kind} takes none")
    stain = _stain(args.stain_target, args.stain) if args.stain_target is not None else None
    network = args.network
    if not network.is_file():
        raise ConfigError(f"{network}: file not found")
    readable_file(network)
    if out.resolve() == network.resolve():
        raise ConfigError(f"{out}: --out is the network's own file, which it would overwrite; write elsewhere")
    program: torch.jit.ScriptModule | torch.export.ExportedProgram
    if archive_kind(network) == "export":
        try:
            program = export_load(str(network))
        except Exception as exc:  # torch's archive and graph readers raise many kinds
            raise ConfigError(
                f"{network}: a torch.export archive this torch ({torch.__version__}) cannot read: {error_reason(exc)}"
            ) from exc
    else:
        _not_a_model_file(network)
        program = cast(torch.jit.ScriptModule, load_torchscript(network))  # a ConfigError saying what else it is
    if new_folder is not None:
        new_folder.mkdir()
    try:
        save_program(
            out, args.kind, program, args.tile_size, args.mpp, stain=stain, threshold=args.threshold, **settings
        )
    except BaseException:
        if new_folder is not None and not any(new_folder.iterdir()):
            new_folder.rmdir()  # made for this file: nothing is left behind
        raise
    if not args.quiet:
        print(f"wrote {out}: {args.kind}, {args.tile_size} px tiles at {args.mpp:g} um/px from {network}")
    if out.name != KIND_FILES[args.kind]:
        logging.getLogger(__name__).warning(
            "%s: the container loads a %s from %s in its model folder: name it so there",
            out,
            args.kind,
            KIND_FILES[args.kind],
        )
    return 0


def _output(text: str, kind: str) -> tuple[Path, Path | None]:
    """The file ``--out`` names, and the folder to make for it (None: it exists)."""
    path = Path(text)
    if not (text.endswith(("/", os.sep)) or path.is_dir()):
        if not path.parent.is_dir():
            raise ConfigError(f"{path.parent}: folder not found (--out)")
        return path, None
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: --out names a folder, but this is a file")
    if not path.exists() and not path.parent.is_dir():
        raise ConfigError(f"{path.parent}: folder not found (--out)")
    return path / KIND_FILES[kind], None if path.is_dir() else path


def _check_name(out: Path, kind: str) -> None:
    """A ConfigError for another kind's file name (a name the container does not load is only warned about)."""
    other = next((k for k, name in KIND_FILES.items() if name == out.name and k != kind), None)
    if other is not None:
        raise ConfigError(
            f"{out}: the container loads its {other} from {out.name}; a {kind} goes in {KIND_FILES[kind]}"
        )


def _not_a_model_file(path: Path) -> None:
    """A ConfigError when ``path`` is already one of the kit's model files (a checkpoint or a wrapped program)."""
    from algorithm.engine.model_files import archive_kind

    if archive_kind(path) in (None, "torchscript"):  # no zip, or TorchScript: load_torchscript says what it is
        return
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a weights-only torch.save file: load_torchscript says what it is
        return
    if isinstance(payload, dict) and "kind" in payload:
        what = "a network of your own, wrapped" if "program" in payload else "a checkpoint of the kit's architecture"
        raise ConfigError(
            f"{path}: already a model file of the kit ({what}, kind {payload['kind']}): put it in the model folder "
            "as it is"
        )


def _stain(image: Path, method: str) -> Normaliser:
    """The stain target fitted to ``image`` with ``method``."""
    from algorithm.stain import get_normaliser
    from algorithm.stain.target_image import read_target_image

    pixels = read_target_image(image)
    try:
        return get_normaliser(method).fit(pixels)
    except KitError as exc:  # no stains to fit (a grey or blank image): the file named
        raise ConfigError(f"{image}: {exc}") from exc
