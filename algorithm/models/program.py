"""A participant's own network in the container: a *program checkpoint*.

The container loads each network from its model folder under a fixed name
(``detector.pt``, ``segmenter.pt``, ``nuclei.pt``, ``patch_classifier.pt``). Such a
file is either a checkpoint of one of the kit's architectures (weights and the config
that rebuilds them: what ``python -m training`` writes) or a program checkpoint: a
network of any architecture as TorchScript (``torch.jit.script`` or ``trace``) or as a
``torch.export`` program, with the few settings the engine feeds it by. The container
needs no Python class of the participant's, and the file loads with ``weights_only``
like every checkpoint (the program is bytes in it)::

    from algorithm.models import save_program
    save_program("my-model/detector.pt", "detector", torch.jit.script(net), tile_size=512, mpp=0.25,
                 threshold=0.6, stain=target)

The network takes what the kit's own network of its kind takes, a batch ``(N, 3, H, W)``
float in [0, 1] of tiles ``tile_size`` pixels square at ``mpp`` um/px (stain-normalised to
``stain`` when one is given), and returns what it returns:

- ``detector``: boxes per tile, torchvision's list of ``{"boxes", "scores", "labels"}``
  dicts (label 1: mitotic figure; a scripted torchvision detector as it is);
- ``segmenter`` (the tumour heatmap) and ``nuclei``: logits ``(N, 1, h, w)``, any ``h = w``;
- ``patch-classifier``: logits ``(N,)`` or ``(N, 1)``.

:func:`save_program` runs the network on two blank tiles and checks its output as the
engine checks every batch, before it writes anything. TorchScript and torch.export
files follow torch's versions: save with the torch of the image that will run it
(``./build.sh --cuda 12``: torch 2.10; ``--cuda 13``: 2.14).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from algorithm.engine.model_files import check_dynamic_batch, jit_load, program_module
from algorithm.engine.models import ClassifierModel, DetectionModel, ProbabilityModel, engine_device
from algorithm.errors import ConfigError, KitError
from algorithm.models.checkpoint import save_payload
from algorithm.models.detector import DetectorConfig
from algorithm.models.patch_classifier import PatchClassifierConfig
from algorithm.models.segmenter import SegmenterConfig
from algorithm.models.unet import UNetConfig
from algorithm.patches.options import PatchOptions
from algorithm.stain.base import Normaliser
from algorithm.stain.spec import StainSpec

# the settings a program of each kind may carry besides tile_size and mpp (its config's fields)
OPTIONAL_SETTINGS = {"detector": ("views",), "segmenter": (), "nuclei": (), "patch-classifier": ()}
# the config each kind's settings are read into when it loads (the kit's own architectures' fields default)
CONFIGS: dict[str, Any] = {
    "detector": DetectorConfig,
    "segmenter": SegmenterConfig,
    "nuclei": UNetConfig,
    "patch-classifier": PatchClassifierConfig,
}
FORMATS = ("torchscript", "export")


def save_program(
    path: str | os.PathLike[str],
    kind: str,
    program: torch.jit.ScriptModule | torch.export.ExportedProgram,
    tile_size: int,
    mpp: float,
    *,
    stain: StainSpec | Normaliser | None = None,
    threshold: float | None = None,
    patches: PatchOptions | None = None,
    metrics: dict[str, Any] | None = None,
    **settings: Any,
) -> None:
    """Write ``program`` as a model file of ``kind`` the container loads (atomically; see the module docstring).

    ``threshold``: the detector's or nuclei model's decision threshold (default 0.5);
    ``stain``: the target its tiles are normalised to, a fitted normaliser
    (``get_normaliser("macenko").fit(target_rgb)``) or its :class:`StainSpec` (None: as the slide is); ``settings``:
    ``views`` for a detector (test-time mirror images, 1, 2 or 4); ``patches``: a patch
    classifier's patch filters (:class:`~algorithm.patches.PatchOptions`; None: the
    defaults; its size and mpp are the program's). Anything wrong -- an
    unknown kind or setting, a plain module, an export with a fixed batch, an output the
    engine would refuse -- is a :class:`~algorithm.errors.ConfigError` and writes nothing.
    """
    if kind not in CONFIGS:
        raise ConfigError(f"kind must be one of {', '.join(CONFIGS)}, got {kind!r}")
    unknown = sorted(set(settings) - set(OPTIONAL_SETTINGS[kind]))
    if unknown:
        allowed = ", ".join(OPTIONAL_SETTINGS[kind]) or "none"
        raise ConfigError(
            f"a {kind} program takes no setting {', '.join(unknown)} (besides tile_size and mpp: {allowed})"
        )
    if isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 16:
        raise ConfigError(f"tile_size must be a whole number of pixels, 16 or more, got {tile_size!r}")
    if isinstance(mpp, bool) or not isinstance(mpp, (int, float)) or not math.isfinite(mpp) or mpp <= 0:
        raise ConfigError(f"mpp must be a positive number of microns per pixel, got {mpp!r}")
    if threshold is not None and (not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1):
        raise ConfigError(f"threshold must lie in [0, 1], got {threshold!r}")
    if isinstance(stain, Normaliser):
        stain = StainSpec.of(stain)
    elif stain is not None and not isinstance(stain, StainSpec):
        raise ConfigError(
            f"stain must be a fitted normaliser (get_normaliser(...).fit(image)), got {type(stain).__name__}"
        )
    config = {"tile_size": tile_size, "mpp": float(mpp), **settings}
    CONFIGS[kind].from_dict(config, source=f"a {kind} program's settings")  # as it will be read when it loads
    form, data, module = _serialised(program)
    _trial(module, kind, tile_size, settings)
    extra: dict[str, Any] = {"program_format": form, "stain": stain}
    if threshold is not None:
        extra["threshold"] = float(threshold)
    if patches is not None:
        if kind != "patch-classifier":
            raise ConfigError(f"patches are a patch classifier's filters, not a {kind}'s")
        extra["patches"] = patches.to_dict()
    program_bytes = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    save_payload(path, kind, config, {"program": program_bytes}, metrics, extra)


def load_program(path: str | os.PathLike[str], payload: dict[str, Any], device: str | torch.device) -> torch.nn.Module:
    """The network of a program checkpoint's ``payload`` (read from ``path``) on ``device``, in eval mode."""
    where = engine_device(device)
    form = payload.get("program_format")
    data = payload["program"]
    if form not in FORMATS or not isinstance(data, torch.Tensor) or data.dtype != torch.uint8:
        raise ConfigError(f"{path}: not a program checkpoint of this kit (program_format {form!r})")
    buffer = io.BytesIO(data.numpy().tobytes())
    saved = payload.get("versions", {}).get("torch", "?")
    try:
        if form == "torchscript":
            return jit_load(buffer, where).eval()
        return program_module(torch.export.load(buffer), where, Path(path))
    except KitError:
        raise
    except Exception as exc:  # torch's archive and graph readers raise many kinds
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"{path}: its {form} program does not load with torch {torch.__version__} (it was saved with torch "
            f"{saved}; save it with the torch of the image that runs it): {first}"
        ) from exc


def refuse_program(path: str | os.PathLike[str], payload: dict[str, Any], use: str) -> None:
    """A ConfigError when ``payload`` (read from ``path``) is a program checkpoint: ``use`` (e.g. "fine-tuning")
    needs the kit's own architecture, whose weights it changes."""
    if "program" in payload:
        raise ConfigError(
            f"{path}: a network of your own ({payload.get('program_format')} program, saved with save_program); "
            f"{use} needs a checkpoint of the kit's own architecture (what python -m training writes)"
        )


def _serialised(program: Any) -> tuple[str, bytes, torch.nn.Module]:
    """The program's format, its file's bytes, and the module to try it with."""
    buffer = io.BytesIO()
    if isinstance(program, torch.export.ExportedProgram):
        check_dynamic_batch(program, Path("the program"))
        torch.export.save(program, buffer)
        return "export", buffer.getvalue(), program.module()
    if isinstance(program, torch.jit.ScriptModule):  # scripted or traced
        with warnings.catch_warnings():  # torch 2.14 marks TorchScript deprecated; it still saves
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(program, buffer)
        return "torchscript", buffer.getvalue(), program
    if isinstance(program, torch.nn.Module):
        raise ConfigError(
            f"the network is a plain torch module ({type(program).__name__}); the container has no Python class "
            "of yours, so give it as TorchScript (torch.jit.script(net) or torch.jit.trace(net, tiles)) or as a "
            "torch.export program (torch.export.export(net, (tiles,), dynamic_shapes=...))"
        )
    raise ConfigError(f"the network must be TorchScript or a torch.export program, got {type(program).__name__}")


def _trial(module: torch.nn.Module, kind: str, tile_size: int, settings: dict[str, Any]) -> None:
    """Run the network on two blank tiles as the engine would, refusing what the engine would refuse."""
    if kind == "detector":
        adapter: Any = DetectionModel(module, views=settings.get("views", 1))
    elif kind == "patch-classifier":
        adapter = ClassifierModel(module)
    else:
        adapter = ProbabilityModel(module)
    tiles = torch.zeros(2, 3, tile_size, tile_size)
    try:
        with torch.no_grad():
            adapter.to_host(adapter.postprocess(adapter.forward(tiles)))
    except ConfigError as exc:
        raise ConfigError(f"a {kind} program's output on 2 blank tiles of {tile_size} px: {exc}") from exc
    except Exception as exc:  # the participant's own code: any error it raises
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"the {kind} program failed on 2 blank tiles (2, 3, {tile_size}, {tile_size}): "
            f"{type(exc).__name__}: {first}"
        ) from exc
