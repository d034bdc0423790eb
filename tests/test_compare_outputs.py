"""test/compare_outputs.py: the tolerant output comparison behind the algorithm container's test.sh.

Runs in the normal suite, without Docker.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "test" / "compare_outputs.py"


def load_script(name: str, path: Path, register: bool = False) -> ModuleType:
    """A script of test/ as a module, by path: `test` is also the standard library's package name."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:  # mypy finds the script as test.compare_outputs, which at run time is the standard library's
    import test.compare_outputs as co
else:
    co = load_script("compare_outputs", SCRIPT, register=True)


def points_doc(points: list[tuple[float, float, float, str]]) -> dict:
    """A "Multiple points" value as python -m algorithm writes it: (x_mm, y_mm, probability, name)."""
    return {
        "name": "Regions of interest",
        "type": "Multiple points",
        "points": [{"name": n, "point": [x, y, 0.0], "probability": p} for x, y, p, n in points],
        "version": {"major": 1, "minor": 0},
    }


MF, NMF = "mitotic figure", "non-mitotic figure"
BASE = [(0.1, 0.2, 0.91, MF), (0.3, 0.05, 0.62, MF), (0.31, 0.05, 0.2, NMF), (0.45, 0.4, 0.07, NMF)]


def compare(expected: Any, actual: Any, **tol: float) -> co.Report:
    report = co.Report()
    co.compare_values(expected, actual, co.Tolerance(**tol), "", report)
    return report


def test_identical_and_reordered_points_pass():
    doc = points_doc(BASE)
    assert compare(doc, copy.deepcopy(doc))
    assert compare(doc, points_doc(list(reversed(BASE))))


def test_small_moves_and_probability_changes_within_tolerance_pass():
    moved = [(x + 0.0003, y - 0.0002, p + 0.015, n) for x, y, p, n in BASE]  # 0.36 um, 0.015
    report = compare(points_doc(BASE), points_doc(moved))
    assert report, report.differences
    assert "4 matched" in report.notes[0]


def test_a_point_moved_beyond_the_distance_is_missing_and_extra():
    moved = list(BASE)
    moved[0] = (0.1 + 0.0006, 0.2, 0.91, MF)  # 0.6 um
    report = compare(points_doc(BASE), points_doc(moved))
    assert not report
    text = "\n".join(report.differences)
    assert "missing" in text and "extra" in text and "1 missing, 1 extra" in text


def test_the_distance_tolerance_is_an_option():
    moved = [(x + 0.0006, y, p, n) for x, y, p, n in BASE]
    assert not compare(points_doc(BASE), points_doc(moved))
    assert compare(points_doc(BASE), points_doc(moved), distance_mm=0.001)


def test_probability_beyond_tolerance_fails():
    changed = list(BASE)
    changed[1] = (0.3, 0.05, 0.62 + 0.03, MF)
    report = compare(points_doc(BASE), points_doc(changed))
    assert not report
    assert any("probability 0.6200 != 0.6500" in d for d in report.differences)
    assert compare(points_doc(BASE), points_doc(changed), probability_atol=0.05)


def test_names_must_be_equal():
    changed = list(BASE)
    changed[2] = (0.31, 0.05, 0.2, MF)
    report = compare(points_doc(BASE), points_doc(changed))
    assert not report
    assert any("name 'non-mitotic figure' != 'mitotic figure'" in d for d in report.differences)


@pytest.mark.parametrize("actual, word", [(BASE[:-1], "missing"), (BASE + [(0.2, 0.2, 0.5, MF)], "extra")])
def test_counts_must_be_equal(actual, word):
    report = compare(points_doc(BASE), points_doc(actual))
    assert not report
    assert any(word in d for d in report.differences)


def test_matching_is_one_to_one():
    """Two expected points 0.3 um apart, one actual point between them: one matched, one missing."""
    expected = [(0.1, 0.1, 0.9, MF), (0.1003, 0.1, 0.9, MF)]
    actual = [(0.10015, 0.1, 0.9, MF)]
    report = compare(points_doc(expected), points_doc(actual))
    assert not report and "1 missing, 0 extra" in report.differences[-1]
    # and both are found when both are there, each with its nearest partner
    assert compare(points_doc(expected), points_doc([(0.10032, 0.1, 0.9, MF), (0.10001, 0.1, 0.9, MF)]))


def test_nearest_partner_wins():
    expected = [(0.1, 0.1, 0.2, NMF)]
    actual = [(0.1004, 0.1, 0.9, MF), (0.1001, 0.1, 0.21, NMF)]
    report = compare(points_doc(expected), points_doc(actual))
    assert any("extra" in d and "0.9000" in d for d in report.differences)
    assert not any(" != " in d for d in report.differences)  # matched to the 0.21 one, not the 0.9 one


def test_min_probability_forgives_candidates_at_the_score_floor_only():
    low = BASE + [(0.2, 0.3, 0.055, NMF)]
    assert not compare(points_doc(BASE), points_doc(low))
    report = compare(points_doc(BASE), points_doc(low), min_probability=0.06)
    assert report and "1 unmatched below probability 0.06 ignored" in report.notes[0]
    high = BASE + [(0.2, 0.3, 0.5, MF)]
    assert not compare(points_doc(BASE), points_doc(high), min_probability=0.06)


def test_empty_points_and_the_rest_of_the_document():
    assert compare(points_doc([]), points_doc([]))
    assert not compare(points_doc([]), points_doc(BASE[:1]))
    other = points_doc(BASE)
    other["version"] = {"major": 2, "minor": 0}
    assert any(d.startswith("version.major") for d in compare(points_doc(BASE), other).differences)
    renamed = points_doc(BASE)
    renamed["name"] = "Something else"
    assert not compare(points_doc(BASE), renamed)


def test_points_with_bad_coordinates_never_match():
    bad = points_doc(BASE)
    bad["points"][0]["point"] = [float("nan"), 0.2, 0.0]
    assert not compare(points_doc(BASE), bad)


def test_other_json_numbers_with_rtol_and_exact_otherwise():
    assert compare({"a": 1.0, "b": [1, 2.5]}, {"a": 1.0 + 1e-9, "b": [1, 2.5]})
    assert not compare({"a": 1.0}, {"a": 1.001})
    assert compare({"a": 1.0}, {"a": 1.001}, rtol=1e-2)
    assert compare({"n": 3}, {"n": 3.0})
    assert not compare({"s": "x"}, {"s": "y"})
    assert not compare({"t": True}, {"t": 1})
    assert not compare({"a": 1}, {"a": 1, "b": 2})
    assert not compare({"a": 1, "b": 2}, {"a": 1})
    assert not compare([1, 2], [1, 2, 3])
    assert not compare({"a": None}, {"a": 0})
    assert compare(float("nan"), float("nan"))
    assert compare(0.5, 0.5)  # a "Float" output socket's whole file
    assert compare(True, True)  # a "Bool" output socket's whole file (the label task's call)
    assert not compare(True, False)
    assert not compare(False, 0)


def _write(folder: Path, name: str, value) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))
    return path


def test_folders_compare_file_by_file(tmp_path):
    exp, act = tmp_path / "expected", tmp_path / "actual"
    for folder in (exp, act):
        _write(folder, "mitotic-figures.json", points_doc(BASE))
        _write(folder, "tumour-likelihood.json", 0.73)
        (folder / "images").mkdir()
        (folder / "images" / "mask.raw").write_bytes(b"\x01\x02")
    assert co.compare_paths(exp, act)
    (act / "images" / "mask.raw").write_bytes(b"\x01\x03")
    _write(act, "extra.json", {})
    (exp / "tumour-likelihood.json").unlink()
    report = co.compare_paths(exp, act)
    text = "\n".join(report.differences)
    assert "images/mask.raw: contents differ" in text
    assert "extra.json: not expected" in text
    assert "tumour-likelihood.json: not expected" in text


def test_missing_output_file_fails(tmp_path):
    exp, act = tmp_path / "expected", tmp_path / "actual"
    _write(exp, "mitotic-figures.json", points_doc(BASE))
    act.mkdir()
    report = co.compare_paths(exp, act)
    assert not report and "mitotic-figures.json: missing" in report.differences[0]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_command_line_pass_fail_and_unreadable(tmp_path):
    good = _write(tmp_path, "a.json", points_doc(BASE))
    same = _write(tmp_path, "b.json", points_doc(list(reversed(BASE))))
    worse = _write(tmp_path, "c.json", points_doc(BASE[:2]))
    run = _cli(str(good), str(same))
    assert run.returncode == 0 and run.stdout.strip().splitlines()[-1].startswith("PASS: ")
    run = _cli(str(good), str(worse))
    assert run.returncode == 1 and run.stdout.strip().splitlines()[-1].startswith("FAIL: ")
    assert "2 missing" in run.stdout
    (tmp_path / "broken.json").write_text("{")
    run = _cli(str(good), str(tmp_path / "broken.json"))
    assert run.returncode == 2 and "not valid JSON" in run.stderr
    run = _cli(str(good), str(tmp_path / "absent.json"))
    assert run.returncode == 2 and "cannot read" in run.stderr
    run = _cli(str(good), str(same), "--distance-mm", "-1")
    assert run.returncode == 2 and "non-negative" in run.stderr


def test_the_gpu_preset_allows_what_a_gpu_changes_and_explicit_options_win(tmp_path):
    # what an H100 changed against the CPU: a candidate kept 1 um away (an NMS near-tie under
    # mixed precision), a candidate 0.027 higher (nvJPEG), a new candidate at the score floor
    gpu = [
        (0.1, 0.2, 0.91, MF),
        (0.3, 0.05, 0.62, MF),
        (0.31 + 0.0007, 0.05 + 0.0007, 0.2, NMF),
        (0.45, 0.4, 0.097, NMF),
    ]
    gpu[0] = (0.1, 0.2, 0.91 + 0.027, MF)
    expected = _write(tmp_path, "cpu.json", points_doc(BASE))
    actual = _write(tmp_path, "gpu.json", points_doc(gpu + [(0.6, 0.6, 0.08, NMF)]))
    assert _cli(str(expected), str(actual)).returncode == 1  # strict by default
    run = _cli(str(expected), str(actual), "--gpu")
    assert run.returncode == 0, run.stdout
    assert _cli(str(expected), str(actual), "--gpu", "--probability-atol", "0.02").returncode == 1
    assert _cli(str(expected), str(actual), "--gpu", "--distance-mm", "0.0005").returncode == 1
    # beyond the preset: a mitotic figure 3 um away is another detection
    far = _write(tmp_path, "far.json", points_doc([(0.1 + 0.003, 0.2, 0.91, MF), *BASE[1:]]))
    assert _cli(str(expected), str(far), "--gpu").returncode == 1


def test_many_points_are_fast(tmp_path):
    import random
    import time

    rng = random.Random(3)  # 20,000 points 10 um apart (the detector's NMS keeps them >= 6.25 um apart)
    pts = [(0.01 * (k % 150), 0.01 * (k // 150), rng.uniform(0.05, 1), MF) for k in range(20000)]
    jittered = [(x + rng.uniform(-2e-4, 2e-4), y + rng.uniform(-2e-4, 2e-4), p, n) for x, y, p, n in pts]
    start = time.perf_counter()
    assert compare(points_doc(pts), points_doc(jittered))
    assert time.perf_counter() - start < 10


def test_standard_library_only():
    """It runs with the CI host's python3, outside any virtual environment."""
    tree = ast.parse(SCRIPT.read_text())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names | {"__future__"}, name


def test_the_committed_test_case_is_consistent():
    """test/expected_output is a valid points file that passes against itself; the no-tissue one is empty."""
    expected = REPO / "test" / "expected_output"
    doc = json.loads((expected / "mitotic-figures.json").read_text())
    assert doc["type"] == "Multiple points" and doc["version"] == {"major": 1, "minor": 0}
    for p in doc["points"]:
        assert p["name"] in (MF, NMF) and 0 <= p["probability"] <= 1 and len(p["point"]) == 3
        assert 0 <= p["point"][0] <= 0.512 and 0 <= p["point"][1] <= 0.512  # 2048 px at 0.25 um
    assert co.compare_paths(expected, expected)
    empty = json.loads(
        (REPO / "test" / "edge-cases" / "no-tissue" / "expected_output" / "mitotic-figures.json").read_text()
    )
    assert empty["type"] == "Multiple points" and empty["points"] == []
    inputs = json.loads((REPO / "test" / "input" / "inputs.json").read_text())
    assert inputs[0]["interface"]["slug"] == "histopathology-region-of-interest-cropout"
    folder = REPO / "test" / "input" / inputs[0]["interface"]["relative_path"]
    assert [p.name for p in folder.iterdir()] == [inputs[0]["image"]["name"]]


def test_make_test_case_reproduces_the_committed_inputs(tmp_path):
    """test/make_test_case.py --inputs-only writes the committed inputs, truth, edge cases and
    slide-level input byte for byte."""
    module = load_script("make_test_case", REPO / "test" / "make_test_case.py")
    module.main(tmp_path, inputs_only=True)
    test = REPO / "test"
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(test)
        for p in test.rglob("*")
        if p.is_file()
        and p.parts[len(test.parts)] in ("input", "truth", "edge-cases", "slide-level")
        and "expected_output" not in p.parts
    )
    assert generated == committed
    for rel in committed:
        assert (tmp_path / rel).read_bytes() == (test / rel).read_bytes(), (
            f"{rel} differs: rerun test/make_test_case.py"
        )


def _mha(path: Path, values, spacing=(0.004, 0.004), compress=True) -> Path:
    import numpy as np
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.asarray(values, dtype=np.float32))
    image.SetSpacing(spacing)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=compress)
    return path


def test_heatmaps_compare_voxel_by_voxel(tmp_path):
    import numpy as np

    base = np.random.default_rng(0).random((20, 30))
    exp, act = tmp_path / "expected", tmp_path / "actual"
    _mha(exp / "images" / "h.mha", base)
    _mha(act / "images" / "h.mha", base + 0.01, compress=False)  # within 0.02, stored differently
    report = co.compare_paths(exp, act)
    assert report, report.differences
    assert any("largest difference 0.01" in n for n in report.notes)
    _mha(act / "images" / "h.mha", base + 0.05)
    assert "voxels differ by up to 0.05" in "\n".join(co.compare_paths(exp, act).differences)
    _mha(act / "images" / "h.mha", base, spacing=(0.008, 0.004))
    assert "ElementSpacing" in "\n".join(co.compare_paths(exp, act).differences)
    _mha(act / "images" / "h.mha", base[:10])
    assert "DimSize" in "\n".join(co.compare_paths(exp, act).differences)
    (act / "images" / "h.mha").write_bytes(b"junk")
    with pytest.raises(co.ReadError, match="not a MetaImage"):
        co.compare_paths(exp, act)


def test_float_outputs_and_lines_have_their_own_tolerances(tmp_path):
    line = {
        "name": "Tumour major axis",
        "type": "Distance measurement",
        "start": [0.1, 0.2, 0.0],
        "end": [0.6, 0.2, 0.0],
        "version": {"major": 1, "minor": 0},
    }
    exp, act = tmp_path / "expected", tmp_path / "actual"
    _write(exp, "axis.json", 500.0)
    _write(exp, "line.json", line)
    _write(act, "axis.json", 509.0)  # within 0.02 + 2 %
    _write(act, "line.json", {**line, "end": [0.605, 0.2, 0.0]})  # 5 um: within 10 um
    assert co.compare_paths(exp, act)
    _write(act, "axis.json", 520.0)
    _write(act, "line.json", {**line, "end": [0.62, 0.2, 0.0]})
    text = "\n".join(co.compare_paths(exp, act).differences)
    assert "axis.json: value: expected 500.0, got 520.0" in text
    assert "line.json: line.end" in text and "20 um" in text


def test_committed_slide_level_case_is_consistent():
    """The slide-level expected output: a likelihood, an axis, its line as long as the axis, a heatmap."""
    out = REPO / "test" / "slide-level" / "expected_output"
    likelihood = json.loads((out / "tumour-likelihood.json").read_text())
    axis_um = json.loads((out / "tumour-major-axis.json").read_text())
    line = json.loads((out / "tumour-major-axis-line.json").read_text())
    assert 0 <= likelihood <= 1 and axis_um >= 0
    assert line["type"] == "Distance measurement"
    length_mm = ((line["end"][0] - line["start"][0]) ** 2 + (line["end"][1] - line["start"][1]) ** 2) ** 0.5
    assert length_mm * 1000 == pytest.approx(axis_um, rel=1e-6)
    header, voxels = co.read_mha(out / "images" / "tumour-heatmap" / "heatmap.mha")
    assert header["ElementType"] == "MET_FLOAT" and min(voxels) >= 0 and max(voxels) <= 1
    inputs = json.loads((REPO / "test" / "slide-level" / "input" / "inputs.json").read_text())
    assert inputs[0]["interface"]["slug"] == "whole-slide-image"


def _mask_mha(path: Path, values, spacing=(0.00025, 0.00025)) -> Path:
    import numpy as np
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.asarray(values, dtype=np.uint8))
    image.SetSpacing(spacing)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True)
    return path


def test_masks_may_differ_in_a_tenth_of_a_percent_of_their_voxels(tmp_path):
    import numpy as np

    base = (np.random.default_rng(0).random((100, 100)) > 0.7).astype(np.uint8)  # 10 000 voxels
    exp, act = tmp_path / "expected", tmp_path / "actual"
    _mask_mha(exp / "images" / "m.mha", base)
    flipped = base.copy()
    flipped.flat[:10] ^= 1  # 0.1 %: allowed
    _mask_mha(act / "images" / "m.mha", flipped)
    report = co.compare_paths(exp, act)
    assert report, report.differences
    assert any("10 differ (0.1 %)" in n for n in report.notes)
    flipped.flat[10] ^= 1  # 0.11 %: not
    _mask_mha(act / "images" / "m.mha", flipped)
    assert "11 of 10000 mask voxels differ (0.11 %, tolerance 0.1 %)" in "\n".join(
        co.compare_paths(exp, act).differences
    )
    assert co.compare_paths(exp, act, co.Tolerance(mask_fraction=0.002))
    _mask_mha(act / "images" / "m.mha", base, spacing=(0.0005, 0.0005))  # the grid must be the same
    assert "ElementSpacing" in "\n".join(co.compare_paths(exp, act).differences)
    _mask_mha(act / "images" / "m.mha", base[:50])
    assert "DimSize" in "\n".join(co.compare_paths(exp, act).differences)
    status = subprocess.run(
        [sys.executable, str(SCRIPT), str(exp), str(act), "--mask-fraction", "-1"], capture_output=True, text=True
    )
    assert status.returncode == 2 and "--mask-fraction must be a non-negative number" in status.stderr


NUCLEI_CASE = REPO / "test" / "nuclei"


def test_the_committed_nuclei_case_is_consistent():
    """test/nuclei: a small synthetic ROI TIFF at 0.25 um/px under the task's socket, and a 0/1 mask on its grid."""
    from algorithm.interface.tasks import NUCLEI
    from algorithm.slide import open_slide

    inputs = json.loads((NUCLEI_CASE / "input" / "inputs.json").read_text())
    assert inputs[0]["interface"]["slug"] == NUCLEI.slide.slug
    folder = NUCLEI_CASE / "input" / inputs[0]["interface"]["relative_path"]
    assert [p.name for p in folder.iterdir()] == [inputs[0]["image"]["name"]]
    image = folder / inputs[0]["image"]["name"]
    assert image.stat().st_size < 1_000_000
    with open_slide(image) as slide:
        assert slide.dimensions == (768, 768) and slide.mpp == pytest.approx((0.25, 0.25))
    expected = NUCLEI_CASE / "expected_output"
    assert sorted(p.relative_to(expected).as_posix() for p in expected.rglob("*") if p.is_file()) == [
        NUCLEI.outputs["nuclei_mask"].relative_path
    ]
    header, voxels = co.read_mha(expected / NUCLEI.outputs["nuclei_mask"].relative_path)
    assert header["ElementType"] == "MET_UCHAR" and header["DimSize"] == "768 768"
    assert [float(v) for v in header["ElementSpacing"].split()] == pytest.approx([0.00025, 0.00025])
    assert [float(v) for v in header["Offset"].split()] == [0.0, 0.0]
    assert set(voxels) == {0, 1}
    assert co.compare_paths(expected, expected)
    assert (NUCLEI_CASE / "model.sha256").read_text().split()[1] == "nuclei.pt"


def test_make_input_reproduces_the_committed_nuclei_input(tmp_path):
    module = load_script("make_nuclei_input", NUCLEI_CASE / "make_input.py")
    assert module.main(["--root", str(tmp_path)]) == 0
    committed = NUCLEI_CASE / "input"
    files = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "input") for p in (tmp_path / "input").rglob("*") if p.is_file())
    for rel in files:
        assert (tmp_path / "input" / rel).read_bytes() == (committed / rel).read_bytes(), (
            f"{rel} differs: rerun test/nuclei/make_input.py"
        )


def test_the_nuclei_expected_output_is_the_bundled_models(tmp_path):
    """Once models/nuclei.pt exists, test/nuclei/expected_output must be its output (within test.sh's tolerance)."""
    import hashlib

    from algorithm.interface.tasks import NUCLEI
    from algorithm.job import BUNDLED_MODELS, NUCLEI_FILE, JobOptions, run_job

    model = BUNDLED_MODELS / NUCLEI_FILE
    if not model.is_file():
        pytest.skip(f"no bundled {model} yet")
    recorded = (NUCLEI_CASE / "model.sha256").read_text().split()[0]
    assert hashlib.sha256(model.read_bytes()).hexdigest() == recorded, (
        "test/nuclei/expected_output was made with another nuclei.pt: rerun test/nuclei/make_expected.sh"
    )
    options = JobOptions(NUCLEI_CASE / "input", tmp_path / "out", NUCLEI, model_dir=BUNDLED_MODELS, device="cpu")
    run_job(options, log=lambda _: None)
    report = co.compare_paths(NUCLEI_CASE / "expected_output", tmp_path / "out")
    assert report, report.differences
