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
                 threshold=0.6, stain=get_normaliser("macenko").fit(target_rgb))

The network takes what the kit's own network of its kind takes, a batch ``(N, 3, H, W)``
float in [0, 1] of tiles ``tile_size`` pixels square at ``mpp`` um/px (stain-normalised to
``stain`` when one is given), and returns what it returns:

- ``detector``: boxes per tile, torchvision's list of ``{"boxes", "scores", "labels"}``
  dicts (label 1: mitotic figure; a scripted torchvision detector as it is, a RetinaNet
  decoded for the whole batch at once);
- ``segmenter`` (the tumour heatmap) and ``nuclei``: logits ``(N, 1, h, w)``, any ``h = w``;
- ``patch-classifier``: logits ``(N,)`` or ``(N, 1)``.

:func:`save_program` runs the network on a batch of three random tiles and on the first
alone (a slide's last batch is shorter), checks its output as the engine checks every
batch, with one channel (the foreground's logits) and the same for a tile whatever its
batch (a BatchNorm left in training mode would not be), before it writes anything. A
network that fails in a job (tiles it cannot take) is one ConfigError naming the batch
and torch's reason. TorchScript and torch.export files follow torch's versions: save
with the torch of the image that will run it (``./build.sh --cuda 12``: torch 2.10;
``--cuda 13``: 2.14; torch.export programs of 2.14 did run in 2.10, TorchScript of
torchvision's RetinaNet did not).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from algorithm.engine.model_files import check_dynamic_batch, export_load, jit_load, program_module
from algorithm.engine.models import ClassifierModel, DetectionModel, ProbabilityModel, engine_device, error_reason
from algorithm.errors import ConfigError, KitError
from algorithm.models.checkpoint import save_payload
from algorithm.models.detector import CLASS_NAMES, DetectorConfig
from algorithm.models.patch_classifier import PatchClassifierConfig
from algorithm.models.segmenter import SegmenterConfig
from algorithm.models.unet import UNetConfig
from algorithm.patches.options import PatchOptions
from algorithm.slide.base import is_number, is_whole
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
# the kit's architecture fields a program's config sets so that their checks pass: a U-Net of two levels
# asks for no more than the even tile side the nuclei pipeline needs anyway
NEUTRAL: dict[str, dict[str, Any]] = {"nuclei": {"widths": [1, 1]}}
DETECTOR_LABELS = tuple(CLASS_NAMES)  # 1: mitotic figure, 2: imposter
THRESHOLDED = ("detector", "nuclei")  # the kinds whose decision threshold the job reads from the checkpoint
MIN_TILE, MAX_TILE = 16, 2048
TRIAL_TILES = 3  # the trial's first batch; then its first tile alone (a slide's last batch is shorter)
FORMATS = ("torchscript", "export")


def save_program(
    path: str | os.PathLike[str],
    kind: str,
    program: torch.jit.ScriptModule | torch.export.ExportedProgram,
    tile_size: int | np.integer,
    mpp: float | np.floating,
    *,
    stain: StainSpec | Normaliser | None = None,
    threshold: float | np.floating | None = None,
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
    # numpy's numbers as Python's: a checkpoint loads with weights_only, which refuses numpy objects
    tile_size, mpp, threshold, metrics, settings = _plain((tile_size, mpp, threshold, metrics, settings))
    config = _checked_settings(kind, tile_size, mpp, threshold, patches, settings)
    if isinstance(stain, Normaliser):
        stain = StainSpec.of(stain)
    elif stain is not None and not isinstance(stain, StainSpec):
        raise ConfigError(
            f"stain must be a fitted normaliser (get_normaliser(...).fit(image)), got {type(stain).__name__}"
        )
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{target}: is a folder; give the model file's path in it (e.g. {target / 'detector.pt'})")
    if not target.parent.is_dir():
        raise ConfigError(f"{target.parent}: folder not found")
    form, data, module = _serialised(program)
    _trial(module, kind, int(tile_size), settings)
    extra: dict[str, Any] = {"program_format": form, "stain": stain}
    if threshold is not None:
        extra["threshold"] = float(threshold)
    if patches is not None:
        extra["patches"] = patches.to_dict()
    program_bytes = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    save_payload(target, kind, config, {"program": program_bytes}, metrics, extra)


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars made Python numbers, through tuples, lists and dicts."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


def _checked_settings(
    kind: str,
    tile_size: object,
    mpp: object,
    threshold: object,
    patches: PatchOptions | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The program's config (what its kind's config is read from when it loads), or a ConfigError."""
    if kind not in CONFIGS:
        raise ConfigError(f"kind must be one of {', '.join(CONFIGS)}, got {kind!r}")
    unknown = sorted(set(settings) - set(OPTIONAL_SETTINGS[kind]))
    if unknown:
        allowed = ", ".join(OPTIONAL_SETTINGS[kind]) or "none"
        raise ConfigError(
            f"a {kind} program takes no setting {', '.join(unknown)} (besides tile_size and mpp: {allowed})"
        )
    if not is_whole(tile_size) or not MIN_TILE <= tile_size <= MAX_TILE:
        raise ConfigError(
            f"tile_size must be a whole number of pixels from {MIN_TILE} to {MAX_TILE}, got {tile_size!r}"
        )
    if kind in ("segmenter", "nuclei") and tile_size % 2:
        raise ConfigError(
            f"a {kind}'s tile_size must be even (its maps are stitched at half resolution), got {tile_size}"
        )
    if not is_number(mpp) or not math.isfinite(mpp) or mpp <= 0:
        raise ConfigError(f"mpp must be a positive number of microns per pixel, got {mpp!r}")
    if threshold is not None:
        if kind not in THRESHOLDED:
            raise ConfigError(f"a {kind} program has no threshold (only {' and '.join(THRESHOLDED)} programs have one)")
        if not is_number(threshold) or not 0 <= threshold <= 1:
            raise ConfigError(f"threshold must lie in [0, 1], got {threshold!r}")
    if patches is not None and kind != "patch-classifier":
        raise ConfigError(f"patches are a patch classifier's filters, not a {kind}'s")
    config = {"tile_size": tile_size, "mpp": float(mpp), **NEUTRAL.get(kind, {}), **settings}
    CONFIGS[kind].from_dict(config, source=f"a {kind} program's settings")  # as it will be read when it loads
    return config


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
        return program_module(export_load(buffer), where, Path(path))
    except KitError:
        raise
    except Exception as exc:  # torch's archive and graph readers raise many kinds
        raise ConfigError(
            f"{path}: its {form} program does not load with torch {torch.__version__} (it was saved with torch "
            f"{saved}; save it with the torch of the image that runs it): {error_reason(exc)}"
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
        check_dynamic_batch(program, None)
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
    if isinstance(program, torch.jit.ScriptFunction):
        raise ConfigError(
            "the network is a scripted function; the engine calls modules: script a torch.nn.Module whose "
            "forward calls it"
        )
    raise ConfigError(f"the network must be TorchScript or a torch.export program, got {type(program).__name__}")


def _trial(module: torch.nn.Module, kind: str, tile_size: int, settings: dict[str, Any]) -> None:
    """Run the network as the engine would, on a batch of random tiles and on its first tile alone, refusing what
    the engine would refuse, a map of more than one channel, and outputs that depend on the batch."""
    if kind == "detector":
        adapter: Any = DetectionModel(module, views=settings.get("views", 1))
    elif kind == "patch-classifier":
        adapter = ClassifierModel(module)
    else:
        adapter = ProbabilityModel(module)
    tiles = torch.rand(TRIAL_TILES, 3, tile_size, tile_size, generator=torch.Generator().manual_seed(0))
    found = [_tried(adapter, batch, kind) for batch in (tiles, tiles[:1])]
    if kind == "detector":  # box sets of a random network on noise may differ by ties: the batch sizes ran
        labels = sorted(set(found[0].labels.tolist()) - set(DETECTOR_LABELS))
        if labels:
            raise ConfigError(
                f"the detector program returns labels {labels}; the kit reads label 1 as a mitotic figure and 2 "
                "as an imposter (torchvision counts from 1: 0 is its background), and drops the rest"
            )
        return
    _one_channel(module, tiles[:1], kind)
    first, alone = np.asarray(found[0])[:1], np.asarray(found[1])
    if not np.allclose(first, alone, atol=1e-3):
        difference = float(np.abs(first - alone).max())
        raise ConfigError(
            f"the {kind} program gives a tile another output in a batch of {TRIAL_TILES} than alone (by up to "
            f"{difference:.3g}): a BatchNorm in training mode? script or export the network after net.eval()"
        )


def _tried(adapter: Any, tiles: torch.Tensor, kind: str) -> Any:
    """The adapter's host output for ``tiles``, or a ConfigError saying what went wrong on them."""
    batch = f"a batch of {tuple(tiles.shape)} random tiles"
    try:
        with torch.no_grad():
            return adapter.to_host(adapter.postprocess(adapter.forward(tiles)))
    except ConfigError as exc:
        if isinstance(exc.__cause__, RuntimeError):  # the network itself failed (engine.models.run_module)
            raise ConfigError(f"the {kind} program failed on {batch}: {error_reason(exc.__cause__)}") from exc
        raise ConfigError(f"a {kind} program on {batch}: {exc}") from exc
    except Exception as exc:  # the participant's own code: any error it raises
        raise ConfigError(f"the {kind} program failed on {batch}: {error_reason(exc)}") from exc


def _one_channel(module: torch.nn.Module, tiles: torch.Tensor, kind: str) -> None:
    """A ConfigError unless the network gives one map (one logit) per tile: the engine reads channel 0."""
    with torch.no_grad():
        out = module(tiles)
    if isinstance(out, Mapping) and "out" in out:
        out = out["out"]
    channels = out.shape[1] if out.ndim == (2 if kind == "patch-classifier" else 4) else 1
    if channels != 1:
        shape = "(N, 1, h, w) logits" if kind != "patch-classifier" else "(N,) or (N, 1) logits"
        raise ConfigError(
            f"the {kind} program returns {channels} channels; the kit reads one, the foreground's logits {shape}: "
            "for two classes return logits[:, 1:] - logits[:, :1] (softmax's foreground probability, as a logit)"
        )
