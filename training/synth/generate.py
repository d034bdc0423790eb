"""Write one synthetic slide and its truth files (the orchestration)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from algorithm.io.atomic import write_json_atomic
from training.synth.config import SynthConfig
from training.synth.confounders import (
    CONFOUNDER_KINDS,
    Confounders,
    confounder_counts,
    confounder_list,
    confounders,
)
from training.synth.layout import build_layout, mask_downsample, tissue_mask, tumour_mask
from training.synth.nuclei_mask import nuclei_mask_name, nuclei_mask_writer
from training.synth.pyramid import TiffOptions, write_pyramid
from training.synth.render import HAEMOGLOBIN_OD, blur_sigma, render_region, render_region_with_nuclei
from training.synth.scanners import get_scanner
from training.synth.specials import IMPOSTER, MITOSIS, Specials, specials
from training.synth.truth import TRUTH_FORMAT, midog_database, special_list, tumour_axis, write_mask


@dataclass(frozen=True)
class SlideFiles:
    """The five files one synthetic slide consists of, and the optional level-0 nuclei mask."""

    slide: Path
    midog: Path
    truth: Path
    tumour_mask: Path
    tissue_mask: Path
    nuclei_mask: Path | None = None

    @classmethod
    def for_name(cls, out_dir: str | Path, name: str, nuclei_mask: bool = False) -> SlideFiles:
        """The files of slide ``name`` in ``out_dir`` (with ``<name>.nuclei-mask.tiff`` if ``nuclei_mask``)."""
        d = Path(out_dir)
        return cls(
            d / f"{name}.tiff",
            d / f"{name}.midog.json",
            d / f"{name}.truth.json",
            d / f"{name}.tumour-mask.png",
            d / f"{name}.tissue-mask.png",
            d / nuclei_mask_name(name) if nuclei_mask else None,
        )

    def all(self) -> list[Path]:
        """Every file, slide first (the nuclei mask last, when there is one)."""
        files = [self.slide, self.midog, self.truth, self.tumour_mask, self.tissue_mask]
        return files + [self.nuclei_mask] if self.nuclei_mask is not None else files


@dataclass(frozen=True)
class SlideResult:
    """What generating one slide produced: its files, its truth document and how long it took."""

    name: str
    files: SlideFiles
    truth: dict
    seconds: float

    def summary(self) -> str:
        """One line for the command's log: size, resolution, scanner, tumour, positive, cell counts, file size, time."""
        t = self.truth
        tumour = f"tumour (major axis {t['tumour']['major_axis_um']:.0f} um)" if t["label"] == "tumour" else "normal"
        if t.get("positive"):
            tumour += ", positive"
        size = self.files.slide.stat().st_size / 1e6
        return (
            f"{self.files.slide.name}: {t['width']}x{t['height']} px @ {t['mpp']} um/px, "
            f"scanner {t['scanner']['name']}, "
            f"{tumour}, {t['counts']['mitoses']} mitoses, {t['counts']['imposters']} imposters, "
            f"{sum(t['counts']['confounders'].values())} confounders, "
            f"{len(t['levels'])} levels, {size:.1f} MB, {self.seconds:.1f} s"
        )


def slide_name(seed: int, prefix: str = "synth") -> str:
    """The default file name of the slide with ``seed``: the seed zero-padded, so names sort by seed."""
    return f"{prefix}-{seed:06d}"


def generate_slide(
    config: SynthConfig,
    out_dir: str | Path,
    name: str | None = None,
    options: TiffOptions | None = None,
    on_tile: Callable[[], None] | None = None,
    nuclei_mask: bool = False,
) -> SlideResult:
    """Render ``config`` to ``out_dir/<name>.tiff`` plus truth files; every file atomic.

    ``options`` defaults to JPEG at the scanner's own quality, 512 px tiles. ``nuclei_mask``:
    also write ``<name>.nuclei-mask.tiff``, every nucleus drawn on the level-0 grid, built
    from the same pass as the level-0 tiles and tiled as they are (see
    :mod:`training.synth.nuclei_mask`); the slide and the other files are the same bytes
    with or without it.
    """
    start = time.monotonic()
    scanner = get_scanner(config.scanner)
    if options is None:
        options = TiffOptions(jpeg_quality=scanner.jpeg_quality)
    name = name or slide_name(config.seed)
    files = SlideFiles.for_name(out_dir, name, nuclei_mask)
    layout = build_layout(config)
    sp = specials(config)
    cf = confounders(config)

    ds = mask_downsample(config.width, config.height)
    tissue = tissue_mask(layout, ds)
    tumour = tumour_mask(layout, ds) & tissue if config.label == "tumour" else np.zeros_like(tissue)
    axis_um, ends = tumour_axis(tumour, ds, config.mpp)
    write_mask(files.tissue_mask, tissue)
    write_mask(files.tumour_mask, tumour)
    write_json_atomic(files.midog, midog_database(files.slide.name, config.width, config.height, sp, config.mpp))

    description = (
        f"Synthetic H&E slide (training.synth): seed={config.seed} scanner={config.scanner} "
        f"label={config.label} mpp={config.mpp}"
    )
    nuclei_pixels = 0
    if files.nuclei_mask is None:
        levels = write_pyramid(
            files.slide,
            config.width,
            config.height,
            config.mpp,
            lambda x, y, w, h, d: render_region(config, x, y, w, h, d),
            options,
            on_tile,
            description,
        )
    else:
        with nuclei_mask_writer(files.nuclei_mask, config.width, config.height, config.mpp, options.tile) as mask_tiles:

            def render(x: float, y: float, w: int, h: int, d: float) -> np.ndarray:
                if d != 1:
                    return render_region(config, x, y, w, h, d)
                rgb, nuclei = render_region_with_nuclei(config, x, y, w, h)
                mask_tiles.add(int(x), int(y), nuclei)
                return rgb

            levels = write_pyramid(
                files.slide, config.width, config.height, config.mpp, render, options, on_tile, description
            )
        nuclei_pixels = mask_tiles.foreground
    truth = truth_document(config, options, files, levels, ds, tissue, tumour, axis_um, ends, sp, nuclei_pixels, cf)
    write_json_atomic(files.truth, truth)
    return SlideResult(name, files, truth, time.monotonic() - start)


def truth_document(
    config: SynthConfig,
    options: TiffOptions,
    files: SlideFiles,
    levels: list[tuple[int, int, int]],
    ds: int,
    tissue: np.ndarray,
    tumour: np.ndarray,
    axis_um: float,
    ends: list[list[float]],
    sp: Specials,
    nuclei_pixels: int = 0,
    cf: Confounders | None = None,
) -> dict[str, Any]:
    """The ``.truth.json`` content: everything known about the slide, for tests and training.

    ``tissue`` and ``tumour`` are the masks at ``ds``, ``axis_um`` and ``ends`` the tumour's
    major axis, ``sp`` the special cells (mitoses and imposters) placed, ``nuclei_pixels`` the
    foreground of the nuclei mask (recorded only when ``files`` has one), ``cf`` the
    confounders (default: those of ``config``), listed with their kind under ``confounders``
    (negatives to sample; not in the MIDOG file, which keeps mitoses and imposters only).
    ``positive`` (beside ``label``, and in ``config``) only on positive slides: read a missing
    one as false. ``haemoglobin_od`` (the red cells' third stain vector, R G B) only when
    ``config.haemoglobin`` is above 0, as ``haemoglobin`` in ``config``.
    """
    layout = build_layout(config)
    if cf is None:
        cf = confounders(config)
    pixel_area_mm2 = (ds * config.mpp / 1000.0) ** 2
    doc: dict[str, Any] = {
        "format": TRUTH_FORMAT,
        "seed": config.seed,
        "config": config.to_dict(),
        "tiff": options.to_dict(),
        "scanner": get_scanner(config.scanner).to_dict(),
        **({"haemoglobin_od": list(HAEMOGLOBIN_OD)} if config.haemoglobin else {}),  # absent at 0, as before
        "blur_sigma_px": round(blur_sigma(config), 4),
        "mpp": config.mpp,
        "width": config.width,
        "height": config.height,
        "levels": [{"downsample": d, "width": w, "height": h} for d, w, h in levels],
        "label": config.label,
        **({"positive": True} if config.positive else {}),  # absent on negatives: their files as before it existed
        "tumour": {
            "major_axis_um": round(axis_um, 3),
            "major_axis_endpoints_px": ends,
            "area_mm2": round(float(tumour.sum()) * pixel_area_mm2, 5),
            "outline": layout.tumour.to_dict() if layout.tumour is not None else None,
        },
        "tissue_area_mm2": round(float(tissue.sum()) * pixel_area_mm2, 5),
        "masks": {
            "tissue": {"file": files.tissue_mask.name, "downsample": ds},
            "tumour": {"file": files.tumour_mask.name, "downsample": ds},
        },
        "files": {
            "slide": files.slide.name,
            "midog": files.midog.name,
            "truth": files.truth.name,
            "tumour_mask": files.tumour_mask.name,
            "tissue_mask": files.tissue_mask.name,
        },
        "counts": {
            "mitoses": int(np.sum(sp.category == MITOSIS)),
            "imposters": int(np.sum(sp.category == IMPOSTER)),
            "mitoses_in_tumour": int(np.sum((sp.category == MITOSIS) & sp.in_tumour)),
            "imposters_in_tumour": int(np.sum((sp.category == IMPOSTER) & sp.in_tumour)),
            "vessels": len(layout.vessels),
            "glands": len(layout.glands),
            "bleeds": len(layout.bleeds),
            "confounders": confounder_counts(cf),
        },
        "mitoses": special_list(sp, MITOSIS),
        "imposters": special_list(sp, IMPOSTER),
        "confounders": confounder_list(cf),
        "confounder_rates_per_mm2": {
            k.name: {compartment: rate * config.confounders for compartment, rate in k.rates} for k in CONFOUNDER_KINDS
        },
        "midog_box_px": round(12.5 / config.mpp, 4),
    }
    if files.nuclei_mask is not None:
        area_mm2 = round(nuclei_pixels * (config.mpp / 1000.0) ** 2, 5)
        doc["masks"]["nuclei"] = {"file": files.nuclei_mask.name, "downsample": 1, "area_mm2": area_mm2}
        doc["files"]["nuclei_mask"] = files.nuclei_mask.name
    return doc
