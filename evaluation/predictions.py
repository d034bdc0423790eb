"""``/input/predictions.json``: the algorithm jobs of a submission and where their outputs are.

grand-challenge.org runs the evaluation after every algorithm job of a
submission and describes those jobs in ``predictions.json``: a list of
objects like::

    {"pk": "c82e7041-...", "status": "Succeeded",
     "inputs":  [{"image": {"name": "007.tiff"}, "file": null, "value": null,
                  "interface": {"slug": "histopathology-region-of-interest-cropout",
                                "kind": "Image", "super_kind": "Image",
                                "relative_path": "images/histopathology-roi-cropout"}}],
     "outputs": [{"image": null, "file": "https://.../mitotic-figures.json", "value": null,
                  "interface": {"slug": "mitotic-figures", "kind": "Multiple points",
                                "super_kind": "File", "relative_path": "mitotic-figures.json"}}]}

Each job's output for a socket is at ``/input/<pk>/output/<relative_path>``
(a JSON file, or a folder holding one image for image sockets); a JSON output
may instead be given inline in ``"value"``. The job is joined to the ground
truth by the name of its input image (see :func:`evaluation.ground_truth.case_id`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from evaluation.config import Config
from evaluation.errors import EvaluationError
from evaluation.files import read_json
from evaluation.ground_truth import MASK_SUFFIXES, CaseTruth, GroundTruth, case_id

PREDICTIONS_FILE = "predictions.json"
_SAFE_PK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class OutputRef:
    """Where one job's output for one socket lives: inline ``value`` or ``path``."""

    slug: str
    path: Path
    value: Any = None
    inline: bool = False


@dataclass(frozen=True)
class Job:
    """One algorithm job as the evaluation scores it: the case it belongs to and its scored outputs."""

    pk: str
    image_name: str  # the input image name as grand-challenge reports it
    case: str  # case id derived from image_name
    outputs: dict[str, OutputRef]  # by socket slug, the scored sockets only

    @property
    def label(self) -> str:
        """How messages name this job: participants see both the pk and their image."""
        return f"job {self.pk} (image '{self.image_name}')"


def _obj(value: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EvaluationError(f"{where}: {what} must be a JSON object, got {type(value).__name__}")
    return value


def _slug(value: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    interface = _obj(value.get("interface"), where, "'interface'")
    slug = interface.get("slug")
    if not isinstance(slug, str) or not slug:
        raise EvaluationError(f"{where}: interface has no 'slug'")
    return slug, interface


def _input_name(value: dict[str, Any]) -> str | None:
    image = value.get("image")
    if isinstance(image, dict) and isinstance(image.get("name"), str) and image["name"]:
        return image["name"]
    file_url = value.get("file")
    if isinstance(file_url, str) and file_url.strip("/"):
        return file_url.rstrip("/").rsplit("/", 1)[-1]
    return None


def _case_name(job: dict[str, Any], where: str, config: Config) -> str:
    inputs = job.get("inputs")
    if not isinstance(inputs, list):
        raise EvaluationError(f"{where}: 'inputs' must be a list")
    named: dict[str, str] = {}
    for i, value in enumerate(inputs):
        slug, _ = _slug(_obj(value, f"{where} input {i}", "input"), f"{where} input {i}")
        name = _input_name(value)
        if name is not None:
            named[slug] = name
    if config.case_input is not None:
        if config.case_input not in named:
            raise EvaluationError(
                f"{where}: no image input with socket '{config.case_input}' (config case_input); "
                f"image inputs: {sorted(named)}"
            )
        return named[config.case_input]
    if len(named) != 1:
        raise EvaluationError(
            f"{where}: cannot tell which input names the case: image inputs {sorted(named)}; "
            "set case_input in the config"
        )
    return next(iter(named.values()))


def _relative_path(interface: dict[str, Any], where: str) -> PurePosixPath:
    rel = interface.get("relative_path")
    if not isinstance(rel, str) or not rel:
        raise EvaluationError(f"{where}: interface has no 'relative_path'")
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or "\\" in rel:
        raise EvaluationError(f"{where}: unsafe relative_path {rel!r}")
    return path


def _job(raw: Any, index: int, input_dir: Path, config: Config) -> Job:
    where = f"predictions.json job {index}"
    job = _obj(raw, where, "each job")
    pk = job.get("pk")
    if isinstance(pk, bool) or not isinstance(pk, (str, int)) or not _SAFE_PK.match(str(pk)):
        raise EvaluationError(f"{where}: 'pk' must be a job id (letters, digits, '-', '_', '.'), got {pk!r}")
    pk = str(pk)
    where = f"job {pk}"
    image_name = _case_name(job, where, config)
    where = f"job {pk} (image '{image_name}')"
    status = job.get("status")
    if status != "Succeeded":
        raise EvaluationError(
            f"{where}: status is {status!r}, not 'Succeeded'; every algorithm job must succeed "
            "for the submission to be evaluated (see the job's logs on grand-challenge)"
        )
    outputs = job.get("outputs")
    if not isinstance(outputs, list):
        raise EvaluationError(f"{where}: 'outputs' must be a list")
    wanted = set(config.output_sockets())
    refs: dict[str, OutputRef] = {}
    for i, value in enumerate(outputs):
        w = f"{where} output {i}"
        slug, interface = _slug(_obj(value, w, "output"), w)
        if slug in config.ignore_outputs:
            continue
        if slug not in wanted:
            raise EvaluationError(
                f"{where}: unknown output socket '{slug}'; this evaluation scores {sorted(wanted)}"
                + (f" and ignores {sorted(config.ignore_outputs)}" if config.ignore_outputs else "")
            )
        if slug in refs:
            raise EvaluationError(f"{where}: output socket '{slug}' appears twice")
        rel = _relative_path(interface, f"{where} output '{slug}'")
        path = input_dir / pk / "output" / Path(*rel.parts)
        inline = value.get("value") is not None
        refs[slug] = OutputRef(slug=slug, path=path, value=value.get("value"), inline=inline)
    missing = sorted(wanted - set(refs))
    if missing:
        raise EvaluationError(
            f"{where}: no output for socket(s) {missing}; its outputs are {sorted(_slug(o, where)[0] for o in outputs)}"
        )
    return Job(pk=pk, image_name=image_name, case=case_id(image_name), outputs=refs)


def read_predictions(input_dir: Path, config: Config) -> list[Job]:
    """Parse and check ``predictions.json``; every job must have succeeded and have every scored socket."""
    path = input_dir / PREDICTIONS_FILE
    if not path.is_file():
        raise EvaluationError(f"{path}: file not found (the input folder must hold grand-challenge's predictions.json)")
    raw = read_json(path, str(path))
    if not isinstance(raw, list):
        raise EvaluationError(f"{path}: expected a list of algorithm jobs, got {type(raw).__name__}")
    if not raw:
        raise EvaluationError(f"{path}: the submission has no algorithm jobs")
    jobs = [_job(item, i, input_dir, config) for i, item in enumerate(raw)]
    seen: dict[str, Job] = {}
    for job in jobs:
        if job.pk in seen:
            raise EvaluationError(f"{path}: job {job.pk} appears twice")
        seen[job.pk] = job
    return jobs


def join_to_ground_truth(jobs: list[Job], truth: GroundTruth) -> list[tuple[Job, CaseTruth]]:
    """Pair each job with its case; a missing, extra or duplicated case is an error."""
    by_case: dict[str, Job] = {}
    for job in jobs:
        if job.case not in truth.cases:
            raise EvaluationError(
                f"{job.label}: no ground truth for case '{job.case}' ({truth.source}); "
                "the submission has a case the evaluation does not know"
            )
        if job.case in by_case:
            raise EvaluationError(f"{job.label} and {by_case[job.case].label} are both case '{job.case}'")
        by_case[job.case] = job
    missing = [c for c in truth.cases if c not in by_case]
    if missing:
        raise EvaluationError(
            f"{len(missing)} of {len(truth.cases)} ground-truth case(s) have no algorithm job: "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}"
        )
    return [(by_case[c], truth.cases[c]) for c in truth.cases]


def load_json_output(job: Job, slug: str) -> tuple[Any, str]:
    """The JSON value a job produced for ``slug`` and a label naming it for messages."""
    ref = job.outputs[slug]
    if ref.inline:
        return ref.value, f"{job.label} output '{slug}' (inline value)"
    label = f"{job.label} output '{slug}' ({ref.path.name})"
    if not ref.path.is_file():
        raise EvaluationError(f"{label}: file not found at {ref.path}")
    return read_json(ref.path, label), label


def find_image_output(job: Job, slug: str) -> tuple[Path, str]:
    """The image file a job produced for ``slug``: the socket folder must hold exactly one image."""
    ref = job.outputs[slug]
    label = f"{job.label} output '{slug}'"
    if ref.path.is_file():
        return ref.path, f"{label} ({ref.path.name})"
    if not ref.path.is_dir():
        raise EvaluationError(f"{label}: nothing at {ref.path}")
    images = [
        p
        for p in sorted(ref.path.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(MASK_SUFFIXES)
    ]
    if len(images) != 1:
        raise EvaluationError(
            f"{label}: expected exactly one image ({', '.join(MASK_SUFFIXES)}) in {ref.path}, found {len(images)}"
        )
    return images[0], f"{label} ({images[0].name})"
