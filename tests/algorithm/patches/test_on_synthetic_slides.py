"""Patch selection against a synthetic slide's drawn truth: glass and blood dropped, tumour and stroma kept."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from algorithm.patches import REASONS, PatchOptions, PatchSelection, select_patches
from algorithm.patches.fractions import box_shares, map_boxes, summed_area_table
from algorithm.slide import open_slide
from algorithm.tissue import tissue_mask
from training.synth import SynthConfig, generate_slide
from training.synth.layout import build_layout, fields, grid_for

# Two bleeds and four vessels, red cells in the cherry red of real H&E blood (haemoglobin 1).
BLEEDING = SynthConfig(seed=8, width=4096, height=4096, scanner="B", mitoses=5, imposters=5, haemoglobin=1.0)


def _truth_shares(result, boxes: np.ndarray) -> dict[str, np.ndarray]:
    """Each box's share of the truth tissue and tumour masks."""
    truth = json.loads(result.files.truth.read_text())
    out = {}
    for name in ("tissue", "tumour"):
        entry = truth["masks"][name]
        mask = np.asarray(Image.open(result.files.slide.parent / entry["file"])) > 127
        ds = float(entry["downsample"])
        out[name] = box_shares(summed_area_table(mask), map_boxes(boxes, (ds, ds), mask.shape))
    return out


def test_glass_dropped_tissue_kept(synthetic_slide) -> None:
    options = PatchOptions(size=128)  # 24 patches on the 3072 x 2048 fixture (the study's 296 would give 6)
    with open_slide(synthetic_slide.files.slide) as slide:
        selection = select_patches(slide, tissue_mask(slide), options)
    truth = _truth_shares(synthetic_slide, selection.boxes)
    kept = selection.kept
    assert 0 < kept.sum() < selection.candidates
    assert not kept[truth["tissue"] < 0.2].any()  # glass (outside the drawn tissue) never kept
    assert truth["tissue"][kept].min() > 0.4  # kept patches are tissue
    assert kept[truth["tissue"] > 0.85].all()  # tumour and stroma patches all kept
    assert kept[truth["tumour"] > 0.4].all() and (truth["tumour"] > 0.4).any()
    assert selection.stain_fitted
    error = np.abs(selection.fractions["tissue"] - truth["tissue"])
    assert error.mean() < 0.05, error  # the tissue mask's own accuracy is tested in tests/algorithm/tissue


def _reasons(selection: PatchSelection) -> np.ndarray:
    """Why each candidate was dropped (the first filter it failed, as select_patches applies them); "" if kept."""
    o, f = selection.options, selection.fractions
    checks = (
        ("glass", f["tissue"] < o.min_tissue),
        ("blood", f["blood"] > o.max_blood),
        ("nuclei", f["haematoxylin"] < o.min_haematoxylin),
        ("context", f["haematoxylin_context"] < o.min_haematoxylin_context),
    )
    assert tuple(name for name, _ in checks) == REASONS
    reason = np.full(selection.candidates, "", dtype=object)
    for name, failed in checks:
        reason[(reason == "") & failed] = name
    assert np.array_equal(reason == "", selection.kept)
    assert {name: int((reason == name).sum()) for name, _ in checks} == selection.dropped
    return reason


def test_blood_dropped_where_the_layout_bleeds(tmp_path) -> None:
    """The red filter against the generator's truth: its bleeds (haemorrhage) and vessel lumens (red cells)."""
    result = generate_slide(BLEEDING, tmp_path)
    options = PatchOptions(size=32)  # 32 um patches: 1024 on the 1 x 1 mm slide, 23 of them over 70 % bleed
    with open_slide(result.files.slide) as slide:
        selection = select_patches(slide, tissue_mask(slide), options)
    reason = _reasons(selection)
    layout = build_layout(BLEEDING)
    d = 8.0
    f = fields(layout, grid_for(layout, d))

    def share(field: np.ndarray) -> np.ndarray:
        return box_shares(summed_area_table(field.astype(np.float64)), map_boxes(selection.boxes, (d, d), field.shape))

    bleed = share(f.bleed)  # how much of the patch is haemorrhage (the layout's field, 0..1)
    blood = share(np.maximum(f.bleed, f.lumen) > 0.02)  # the patch's area with any red cells (bleeds, lumens)
    tissue = share(f.tissue)
    assert (bleed > 0.7).sum() >= 15
    assert (reason[bleed > 0.7] == "blood").all()  # patches mostly inside a bleed: all dropped as blood
    assert (reason[bleed > 0.5] == "blood").mean() > 0.85
    assert blood[reason == "blood"].min() > 0.25  # nothing dropped as blood without red cells in it
    away = blood == 0
    assert selection.fractions["blood"][away].max() < 0.05
    tissue_away = away & (tissue > 0.85)
    assert tissue_away.sum() > 300 and selection.kept[tissue_away].mean() > 0.8  # the rest: the nuclei filters'
