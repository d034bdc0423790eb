"""A detector on real tissue: recall on crops of real mitotic figures, and calls per mm^2 of real tissue.

Synthetic validation says nothing about real slides. Two small real checks,
both through the job's own detection (``algorithm.detection.slide``: the tile
grid at the detector's resolution, per-image stain normalisation to the
checkpoint's target, the tile engine, NMS) at the checkpoint's decision
threshold, as ``python -m algorithm --task midog`` runs it:

- **crops**: a multi-page TIFF of small crops, each centred on a real mitotic
  figure (MIDOG 2025's 16 crops of 128 x 128 px at about 0.25 um/px). Each
  page is written as a TIFF at ``mpp`` and detected; a crop counts as found
  when a mitotic-figure call at or above the threshold lies within 7.5 um
  (MIDOG's radius) of its centre. The job's own tissue mask decides what is
  analysed, as in a job (an image this small keeps specks down to a quarter of
  its area, and its one tile's tissue is measured over the image).
- **real images** without mitosis labels (MoNuSeg's H&E): the job's tissue
  mask and detection; mitotic-figure calls per mm^2 of tissue. Unlabelled
  real tissue holds a few figures per mm^2 at most, so this is a
  false-positive rate proxy: a rate far above that is false positives.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch
from numpy.typing import NDArray
from scipy.stats import binomtest

from algorithm.detection.predict import Candidates
from algorithm.detection.slide import slide_detections
from algorithm.errors import ConfigError
from algorithm.io.readable import readable_file
from algorithm.models.detector import DetectorConfig
from algorithm.slide import open_slide, units
from algorithm.stain.spec import StainSpec
from algorithm.tissue import tissue_mask
from training.datasets.annotations import MITOSIS
from training.datasets.real_negatives import open_real_image, real_image_files
from training.detector.validate import MIDOG_RADIUS_UM, tissue_mm2
from training.synth.pyramid import write_image

CROPS_MPP = 0.25  # MIDOG 2025's crops: about 0.25 um/px (the file records 0.248)


@dataclass(frozen=True)
class Detector:
    """A loaded detector and how the job runs it: its config, its stain target and the decision threshold."""

    model: torch.nn.Module
    config: DetectorConfig
    stain: StainSpec | None
    threshold: float
    device: torch.device


@dataclass(frozen=True)
class CropResult:
    """One crop: whether a mitotic figure was called near its centre, and the nearest miss."""

    page: int  # 1-based, as a viewer numbers a stack's pages
    found: bool  # a mitotic-figure call at or above the threshold within the radius of the centre
    best_score: float | None  # the highest mitotic-figure candidate score within the radius (any score), if any
    calls: int  # mitotic-figure calls at or above the threshold anywhere in the crop
    best_point: tuple[float, float] | None = None  # where that candidate is, (x, y) in the crop's pixels

    def as_dict(self) -> dict[str, Any]:
        """JSON values."""
        best = None if self.best_score is None else round(self.best_score, 4)
        point = None if self.best_point is None else [round(v, 1) for v in self.best_point]
        return {"page": self.page, "found": self.found, "best_score": best, "best_point": point, "calls": self.calls}


@dataclass(frozen=True)
class RealImageResult:
    """One unlabelled real image: mitotic-figure calls over its tissue."""

    name: str
    calls: int
    tissue_mm2: float

    @property
    def per_mm2(self) -> float:
        """Calls per mm^2 of tissue (0 without tissue)."""
        return self.calls / self.tissue_mm2 if self.tissue_mm2 > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON values."""
        return {
            "image": self.name,
            "calls": self.calls,
            "tissue_mm2": round(self.tissue_mm2, 5),
            "per_mm2": round(self.per_mm2, 3),
        }


def read_crop_stack(path: Path) -> list[NDArray[np.uint8]]:
    """The pages of a TIFF stack of RGB crops, uint8 ``(h, w, 3)`` each; ConfigError naming the file otherwise."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    readable_file(path)
    try:
        with tifffile.TiffFile(path) as tif:
            pages = [np.asarray(page.asarray()) for page in tif.pages]
    except (tifffile.TiffFileError, OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a TIFF stack of RGB crops ({exc})") from exc
    if not pages:
        raise ConfigError(f"{path}: not a TIFF stack of RGB crops (no pages)")
    crops = []
    for k, pixels in enumerate(pages, 1):
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[-1] not in (3, 4):
            raise ConfigError(
                f"{path}: page {k} is not an RGB uint8 image (shape {pixels.shape}, {pixels.dtype}); "
                "expected a TIFF stack of RGB crops"
            )
        crops.append(np.ascontiguousarray(pixels[..., :3]))
    return crops


def parse_pages(text: str, count: int | None = None) -> list[int]:
    """1-based page numbers from ``"1,3,5-8"`` (sorted, unique); ConfigError for anything else, or for a page past
    ``count`` when given."""
    pages: set[int] = set()
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            lo = int(first)
            hi = int(last) if last else lo
            if lo < 1 or hi < lo:
                raise ValueError(part)
            pages.update(range(lo, hi + 1))
    except ValueError:
        raise ConfigError(f"pages {text!r}: expected 1-based page numbers and ranges, e.g. 1,3,5-8") from None
    if count is not None and max(pages) > count:
        raise ConfigError(f"pages {text!r}: the stack has {count} pages")
    return sorted(pages)


def stack_pages(path: Path, count: int, pages: Sequence[int] | None) -> list[int]:
    """``pages`` (1-based) of the ``count``-page stack at ``path``, all when None; ConfigError for one past it."""
    chosen = list(pages) if pages is not None else list(range(1, count + 1))
    if any(not 1 <= p <= count for p in chosen):
        raise ConfigError(f"{path}: pages {chosen} asked for, the stack has {count}")
    return chosen


def write_crop(pixels: NDArray[np.uint8], mpp: float, path: Path) -> Path:
    """One crop as a TIFF at ``mpp`` that the kit's reader opens, as a job's input would be."""
    write_image(path, pixels, mpp)
    return path


def _mitoses(candidates: Candidates) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The mitotic-figure candidates' centres (level-0 px) and scores."""
    keep = candidates.labels == MITOSIS
    return np.asarray(candidates.points[keep], np.float64), np.asarray(candidates.scores[keep], np.float64)


def score_crop(path: Path, page: int, detector: Detector, radius_um: float = MIDOG_RADIUS_UM) -> CropResult:
    """Detect on one crop's TIFF as a job does (its tissue mask) and match its centre within ``radius_um``."""
    with open_slide(path) as slide:
        width, height = slide.dimensions
        mask = tissue_mask(slide)
        found = slide_detections(slide, mask, detector.model, detector.config, detector.stain, detector.device)
        radius_px = units.um_to_pixels(radius_um, slide.mpp)
    return match_centre(found.candidates, page, (width, height), radius_px, detector.threshold)


def match_centre(
    candidates: Candidates, page: int, size: tuple[int, int], radius_px: float, threshold: float
) -> CropResult:
    """A crop's result from the candidates of the image it is in, the figure at that image's middle."""
    points, scores = _mitoses(candidates)
    near = np.hypot(points[:, 0] - size[0] / 2, points[:, 1] - size[1] / 2) <= radius_px
    best = int(np.flatnonzero(near)[np.argmax(scores[near])]) if near.any() else None
    return CropResult(
        page=page,
        found=bool((scores[near] >= threshold).any()),
        best_score=None if best is None else float(scores[best]),
        calls=int((scores >= threshold).sum()),
        best_point=None if best is None else (float(points[best, 0]), float(points[best, 1])),
    )


def score_crops(
    path: Path,
    detector: Detector,
    mpp: float = CROPS_MPP,
    radius_um: float = MIDOG_RADIUS_UM,
    pages: Sequence[int] | None = None,
) -> list[CropResult]:
    """Every page of the stack (or the 1-based ``pages``) written as a TIFF at ``mpp`` (in a temporary folder) and
    scored."""
    crops = read_crop_stack(path)
    chosen = stack_pages(path, len(crops), pages)
    with tempfile.TemporaryDirectory(prefix="crops-") as work:
        return [
            score_crop(write_crop(crops[k - 1], mpp, Path(work) / f"crop-{k:03d}.tiff"), k, detector, radius_um)
            for k in chosen
        ]


def score_real_image(path: Path, detector: Detector, mpp: float, work: Path) -> RealImageResult:
    """Mitotic-figure calls over one real image's tissue, detected as a job detects (its tissue mask)."""
    with open_real_image(path, mpp, work) as slide:
        mask = tissue_mask(slide)
        found = slide_detections(slide, mask, detector.model, detector.config, detector.stain, detector.device)
        area = tissue_mm2(slide, mask)
    _, scores = _mitoses(found.candidates)
    return RealImageResult(path.name, int((scores >= detector.threshold).sum()), area)


def score_real_images(paths: Sequence[Path], detector: Detector, mpp: float) -> list[RealImageResult]:
    """Every image ``paths`` name (folders or files), PNG/JPEG converted at ``mpp`` in a temporary folder."""
    files = real_image_files(paths)
    with tempfile.TemporaryDirectory(prefix="real-") as work:
        return [score_real_image(f, detector, mpp, Path(work)) for f in files]


def crops_report(
    model: str, detector: Detector, crops: list[CropResult], real: list[RealImageResult], radius_um: float
) -> dict[str, Any]:
    """The JSON report: the crops' recall and each crop, the real images' calls per mm^2 and each image."""
    report: dict[str, Any] = {"model": model, "threshold": detector.threshold, "radius_um": radius_um}
    if crops:
        found = sum(c.found for c in crops)
        report["crops"] = {
            "found": found,
            "total": len(crops),
            "recall": found / len(crops),
            "recall_interval": recall_interval(found, len(crops)),
            "per_crop": [c.as_dict() for c in crops],
        }
    if real:
        calls, mm2 = sum(r.calls for r in real), sum(r.tissue_mm2 for r in real)
        report["real_images"] = {
            "calls": calls,
            "tissue_mm2": round(mm2, 5),
            "per_mm2": round(calls / mm2, 3) if mm2 > 0 else 0.0,
            "per_image": [r.as_dict() for r in real],
        }
    return report


def recall_interval(found: int, total: int, level: float = 0.95) -> list[float]:
    """Wilson's ``level`` interval for a recall of ``found`` of ``total``: 16 crops say little (7 of 16: 23-67 %)."""
    interval = binomtest(found, total).proportion_ci(confidence_level=level, method="wilson")
    return [float(interval.low), float(interval.high)]


def report_table(report: dict[str, Any]) -> str:
    """The report as a short table for the console."""
    lines = [f"{report['model']}: threshold {report['threshold']:g}, radius {report['radius_um']:g} um"]
    crops = report.get("crops")
    if crops:
        lines.append(f"{'crop':>4}  {'found':<5}  {'best score':>10}  {'calls':>5}")
        for c in crops["per_crop"]:
            best = "-" if c["best_score"] is None else f"{c['best_score']:.3f}"
            lines.append(f"{c['page']:>4}  {'yes' if c['found'] else 'no':<5}  {best:>10}  {c['calls']:>5}")
        low, high = crops["recall_interval"]
        lines.append(
            f"recall: {crops['found']} of {crops['total']} real mitotic figures ({crops['recall']:.0%}; "
            f"95 % Wilson interval {low:.0%}-{high:.0%})"
        )
    real = report.get("real_images")
    if real:
        width = max(len(r["image"]) for r in real["per_image"])
        lines.append(f"{'image':<{width}}  {'tissue mm^2':>11}  {'calls':>5}  {'per mm^2':>8}")
        for r in real["per_image"]:
            lines.append(f"{r['image']:<{width}}  {r['tissue_mm2']:>11.4f}  {r['calls']:>5}  {r['per_mm2']:>8.1f}")
        lines.append(
            f"real images: {real['calls']} mitotic-figure calls on {real['tissue_mm2']:.3f} mm^2 of unlabelled "
            f"tissue, {real['per_mm2']:.1f} per mm^2 (real tumours hold 3-5: a false-positive proxy)"
        )
    return "\n".join(lines)
