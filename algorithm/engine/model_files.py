"""A participant's model from a file: TorchScript (``torch.jit.save``) or torch.export (``torch.export.save``).

torch 2.14 marks TorchScript deprecated (scripting, saving and loading each warn)
and names ``torch.export`` its successor: a ``.pt2`` file holding the module's
graph and weights, loadable without the Python class that defined it. Both load
here onto the run's device, as a torch module the engine's adapters wrap
(:class:`~algorithm.engine.ProbabilityModel`, :class:`~algorithm.engine.DetectionModel`,
:class:`~algorithm.engine.ClassifierModel`).

An exported program is specialised to the shapes it was exported with, so export
it with a dynamic batch dimension (a slide's last batch is shorter)::

    batch = torch.export.Dim("batch")
    program = torch.export.export(model.eval(), (tiles,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, "my_model.pt2")

and with tiles of the size the engine will feed it. A program exported in
training mode stays so (its graph fixed BatchNorm's behaviour), so export the
module in eval mode. Load it with the torch of the container that runs it: the
file format follows torch's versions.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import IO

import torch

from algorithm.engine.models import engine_device
from algorithm.errors import ConfigError
from algorithm.io.readable import readable_file
from algorithm.slide.quiet import quiet

EXPORT_HINT = 'export with dynamic_shapes={"x": {0: torch.export.Dim("batch")}} (x: forward\'s first argument)'


def load_torchscript(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> torch.nn.Module:
    """A TorchScript module saved with ``torch.jit.save``, on ``device``, in eval mode.

    A device that cannot be used (an unknown name, CUDA on a machine without it) is a
    :class:`~algorithm.errors.ConfigError` saying so, before the file is read; a file that is
    not TorchScript is one naming the file."""
    where = engine_device(device)
    readable_file(path)
    try:
        module = jit_load(str(path), where)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ConfigError(f"{path}: not a TorchScript model file ({_not_torchscript(Path(path), exc)})") from exc
    return module.eval()


def jit_load(source: str | IO[bytes], where: torch.device) -> torch.nn.Module:
    """``torch.jit.load`` of a file or buffer onto ``where``, without torch 2.14's deprecation warning."""
    with warnings.catch_warnings():  # torch 2.14 marks TorchScript deprecated; it still loads
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(source, map_location=where)


def load_exported(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> torch.nn.Module:
    """The module of a program saved with ``torch.export.save`` (a ``.pt2`` file), on ``device``.

    A :class:`~algorithm.errors.ConfigError` for a device that cannot be used (before the file is
    read), a file that is not such a program (naming it and what it is), and a program whose
    first input's batch dimension is fixed (the engine's last batch of a slide is shorter).
    """
    where = engine_device(device)
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{path}: not a torch.export program file (file not found)")
    readable_file(file)
    try:
        program = export_load(str(file))
    except Exception as exc:  # torch's archive and graph readers raise many kinds
        raise ConfigError(f"{path}: not a torch.export program file ({_not_exported(file, exc)})") from exc
    return program_module(program, where, file)


def export_load(source: str | IO[bytes]) -> torch.export.ExportedProgram:
    """``torch.export.load`` of a file or buffer, without torch's warning for a file not named ``.pt2`` (it
    loads whatever the name)."""
    with quiet("torch.export.pt2_archive._package"):  # the logger it warns on (made on import: named here)
        return torch.export.load(source)


def program_module(program: torch.export.ExportedProgram, where: torch.device, source: Path) -> torch.nn.Module:
    """An exported program's module on ``where``, once its batch dimension is checked to be dynamic
    (``source`` names the file in the error)."""
    check_dynamic_batch(program, source)
    if where.type != "cpu":
        from torch.export.passes import move_to_device_pass  # weights and the graph's device constants alike

        program = move_to_device_pass(program, where)
    return program.module()


def check_dynamic_batch(program: torch.export.ExportedProgram, path: Path | None) -> None:
    """ConfigError unless the program's first user input has a dynamic leading (batch) dimension; ``path`` names
    the program's file in it (None: a program not yet saved)."""
    where = "" if path is None else f"{path}: "
    inputs = program.graph_signature.user_inputs
    placeholders = {node.name: node for node in program.graph.nodes if node.op == "placeholder"}
    value = placeholders[inputs[0]].meta.get("val") if inputs and inputs[0] in placeholders else None
    shape = getattr(value, "shape", None)
    if shape is None or len(shape) != 4:
        raise ConfigError(
            f"{where}the program's first input is {tuple(shape) if shape is not None else 'not a tensor'}; "
            "expected a batch of tiles (N, 3, H, W)"
        )
    if isinstance(shape[0], int):
        raise ConfigError(
            f"{where}the program was exported for batches of exactly {shape[0]} tiles (N, 3, H, W) = "
            f"{tuple(shape)}; a slide's last batch is shorter: {EXPORT_HINT}"
        )


def archive_kind(path: Path) -> str | None:
    """What wrote the file at ``path``, from its zip's entries: "torchscript" (``torch.jit.save``: constants.pkl),
    "export" (``torch.export.save``: archive_format), "torch.save" (data.pkl alone), "zip" (none of them), or
    None when it is no zip at all."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(name.endswith("constants.pkl") for name in names):
        return "torchscript"
    if any(name.endswith("/archive_format") for name in names):
        return "export"
    if any(name.endswith("data.pkl") for name in names):
        return "torch.save"
    return "zip"


def _not_exported(path: Path, exc: Exception) -> str:
    """Why ``torch.export.load(path)`` failed, in the user's terms."""
    kind = archive_kind(path)
    if kind is None:
        return "not a file torch.export.save wrote"
    if kind == "torchscript":
        return "a TorchScript file: load it with load_torchscript"
    if kind == "torch.save":
        return "a file torch.save wrote, not a program: export the module with torch.export.export and save that"
    return _first_sentence(exc)


def _not_torchscript(path: Path, exc: Exception) -> str:
    """Why ``torch.jit.load(path)`` failed, in the user's terms rather than torch's archive reader's."""
    if not path.is_file():
        return "file not found"
    kind = archive_kind(path)
    if kind is None:
        return "not a file torch.jit.save wrote"
    if kind != "torchscript":
        return "a file torch.save wrote, not TorchScript: save a scripted or traced module with torch.jit.save"
    return _first_sentence(exc)


def _first_sentence(exc: Exception) -> str:
    """torch's first sentence of ``exc``."""
    text = str(exc)
    return text.splitlines()[0].split(". ")[0] if text else repr(exc)
