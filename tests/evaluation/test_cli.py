"""``python -m evaluation`` end to end: MIDOG-style scoring, and every bad input failing cleanly."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import numpy as np
import pytest
from grand_challenge_metrics.scorers import score_detection

from evaluation import cli
from tests.conftest import REPO
from tests.evaluation.builders import Raw, point, points_value
from tests.unprivileged import locked_folder, run_python

TRUTH: dict[str, dict[str, Any]] = {
    "001.tiff": {
        "points": [[0.1, 0.1], [0.2, 0.2], [0.5, 0.5]],
        "domain": "human breast carcinoma",
        "size_mm": [1.8, 1.35],
    },
    "002.tiff": {"points": [[0.3, 0.3]], "domain": "canine lymphoma", "size_mm": [1.8, 1.35]},
    "003.tiff": {"points": [], "domain": "canine lymphoma", "size_mm": [1.8, 1.35]},
}
OUTPUTS = {
    "001.tiff": points_value(
        point(0.102, 0.1, 0.9),
        point(0.2, 0.205, 0.4, "non-mitotic figure"),
        point(0.9, 0.9, 0.7),
        point(0.5, 0.5049, 0.55),
    ),
    "002.tiff": points_value(point(0.3, 0.3, 0.8), point(0.3015, 0.3, 0.6)),
    "003.tiff": points_value(point(1.0, 1.0, 0.3, "non-mitotic figure")),
}


def midog_submission(submission, outputs=OUTPUTS):
    submission.points_truth(TRUTH)
    for image, value in outputs.items():
        submission.job(image, {"mitotic-figures": value})
    submission.write_predictions()
    return submission


def test_midog_defaults_score_like_the_midog_evaluation(submission):
    midog_submission(submission)
    assert submission.run() == 0
    metrics = submission.metrics()
    assert set(metrics) == {"results", "aggregates"}
    tp = fp = fn = 0
    for result, image in zip(metrics["results"], sorted(TRUTH), strict=True):
        preds = [p["point"] for p in OUTPUTS[image]["points"] if p["name"] == "mitotic figure"]
        gt = [[x, y, 0] for x, y in TRUTH[image]["points"]]
        ref = score_detection(ground_truth=gt, predictions=preds, radius=7.5e-3)
        assert result["image"] == image and result["domain"] == TRUTH[image]["domain"]
        assert result["detection"]["true_positives"] == ref.true_positives
        assert result["detection"]["false_positives"] == ref.false_positives
        assert result["detection"]["false_negatives"] == ref.false_negatives
        tp, fp, fn = tp + ref.true_positives, fp + ref.false_positives, fn + ref.false_negatives
    det = metrics["aggregates"]["detection"]
    assert (tp, fp, fn) == (3, 2, 1)
    assert det["f1_score"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert det["per_domain"]["canine lymphoma"]["true_positives"] == 1
    assert metrics["aggregates"]["n_cases"] == 3
    assert metrics["aggregates"]["config"]["detection"]["radius_mm"] == 0.0075


def _bad_config(s):
    s.config({"detection": {"radius_um": 7.5}})


def _outputs(**changes):
    return {**OUTPUTS, **changes}


BAD_INPUTS = {
    "missing case": (
        lambda s: midog_submission(s, {k: v for k, v in OUTPUTS.items() if k != "002.tiff"}),
        "1 of 3 ground-truth case(s) have no algorithm job: ['002']",
    ),
    "extra case": (
        lambda s: midog_submission(s, _outputs(**{"004.tiff": points_value()})),
        "(image '004.tiff'): no ground truth for case '004'",
    ),
    "failed job": (
        lambda s: (midog_submission(s), s.write_predictions([{**s.jobs[0], "status": "Failed"}] + s.jobs[1:])),
        "job job-0000 (image '001.tiff'): status is 'Failed', not 'Succeeded'",
    ),
    "pixel coordinates": (
        lambda s: midog_submission(s, _outputs(**{"002.tiff": points_value(point(1200.0, 1200.0))})),
        "lies outside the image (1.8 x 1.35 mm): you need to provide the output coordinates in millimetres",
    ),
    "probability above 1": (
        lambda s: midog_submission(s, _outputs(**{"002.tiff": points_value(point(0.3, 0.3, 1.7))})),
        "point 0: probability must be a number in [0, 1], got 1.7",
    ),
    "NaN": (
        lambda s: midog_submission(
            s,
            _outputs(
                **{
                    "002.tiff": Raw(
                        '{"type": "Multiple points", '
                        '"points": [{"point": [NaN, 0.3, 0], "name": "mitotic figure", "probability": 0.9}]}'
                    )
                }
            ),
        ),
        "output 'mitotic-figures' (mitotic-figures.json): NaN is not valid JSON",
    ),
    "wrong JSON type": (
        lambda s: midog_submission(s, _outputs(**{"002.tiff": [[0.3, 0.3, 0]]})),
        "expected a 'Multiple points' JSON object with a 'points' list, got list",
    ),
    "old format": (
        lambda s: midog_submission(s, _outputs(**{"002.tiff": {"points": [{"point": [0.3, 0.3, 0]}]}})),
        "point 0 has no name; the old format without 'name' and 'probability' is not accepted",
    ),
    "unknown output socket": (
        lambda s: (
            midog_submission(s),
            s.job("x.tiff", {"mitotic-figures": points_value(), "heatmap": 1}),
            s.write_predictions(s.jobs[:2] + [{**s.jobs[3], "inputs": s.jobs[2]["inputs"]}]),
        ),
        "unknown output socket 'heatmap'",
    ),
    "no predictions.json": (lambda s: s.points_truth(TRUTH), "predictions.json: file not found"),
    "invalid predictions.json": (
        lambda s: (s.points_truth(TRUTH), s.write_predictions(Raw("[{"))),
        "predictions.json: invalid JSON at line 1 column 3",
    ),
    "bad config": (
        lambda s: (midog_submission(s), _bad_config(s)),
        "config.json: detection: unknown key(s) ['radius_um']",
    ),
    "bad ground truth": (
        lambda s: (midog_submission(s), s.points_truth({"001.tiff": {"points": "none"}})),
        "points.json: case '001.tiff': points must be a list",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_fails_with_one_line_and_writes_nothing(submission, capsys, name):
    prepare, message = BAD_INPUTS[name]
    prepare(submission)
    assert submission.run() == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("evaluation failed: ")
    assert message in lines[0], lines[0]
    assert captured.out == ""
    assert not submission.output_dir.exists() or os.listdir(submission.output_dir) == []


@pytest.mark.parametrize("name", ["missing case", "bad config", "no predictions.json"])
def test_a_failed_run_removes_the_previous_runs_metrics_and_nothing_else(submission, capsys, name):
    """A failure leaves no metrics.json, not even an earlier run's that would pass for this one's."""
    prepare, message = BAD_INPUTS[name]
    submission.output_dir.mkdir()
    (submission.output_dir / "metrics.json").write_text('{"results": [], "aggregates": {}}')
    (submission.output_dir / "notes.txt").write_text("not the evaluation's")
    (submission.output_dir / "sub").mkdir()
    prepare(submission)
    assert submission.run() == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert sorted(os.listdir(submission.output_dir)) == ["notes.txt", "sub"]


def _parse_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(list(argv))
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()[-1]


def test_an_output_that_is_a_file_is_refused_as_it_is_parsed(submission, capsys, tmp_path):
    """Refused before any work: the submission here has no predictions.json, which would otherwise fail (exit 1)."""
    taken = tmp_path / "taken"
    taken.write_text("a file where the output folder should be")
    base = ["--input", str(submission.input_dir), "--ground-truth", str(submission.gt_dir)]
    line = _parse_error(capsys, *base, "--output", str(taken))
    assert line.endswith(f"error: argument --output: {taken} is a file, not a folder"), line
    line = _parse_error(capsys, *base, "--output", str(taken / "below"))
    assert line.endswith(f"argument --output: {taken / 'below'} cannot be made: {taken} is a file, not a folder")
    assert taken.read_text() == "a file where the output folder should be"


def test_an_output_without_permission_is_refused_as_it_is_parsed(submission):
    locked = locked_folder(submission.root / "locked")
    base = ["-m", "evaluation", "--input", str(submission.input_dir), "--ground-truth", str(submission.gt_dir)]
    result = run_python(*base, "--output", str(locked))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"argument --output: {locked}: no permission to write in this folder")
    result = run_python(*base, "--output", str(locked / "new"))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"{locked / 'new'} cannot be made: no permission to write in {locked}")


def test_files_it_may_not_read_are_one_line_naming_them_and_no_metrics(tmp_path):
    """The container's own test case with a folder or file locked in turn (root's override dropped where the
    tests run as root): one line, exit 1, no metrics.json; a traceback before for the folders."""
    inputs = shutil.copytree(REPO / "evaluation" / "test" / "input", tmp_path / "input")
    truth = shutil.copytree(REPO / "evaluation" / "test" / "ground_truth", tmp_path / "ground_truth")
    case = sorted(p for p in inputs.iterdir() if p.is_dir())[0]
    mask = sorted((truth / "masks").iterdir())[0]
    out = tmp_path / "output"
    for locked, line in (
        (truth / "masks", f"{truth / 'masks'}: Permission denied"),
        (case, f"{case / 'output' / 'mitotic-figures.json'}: Permission denied"),
        (mask, f"ground truth mask {mask}: cannot read (Permission denied)"),
    ):
        mode = locked.stat().st_mode
        locked.chmod(0)
        try:
            result = run_python(
                "-m", "evaluation", "--input", str(inputs), "--ground-truth", str(truth), "--output", str(out)
            )
        finally:
            locked.chmod(mode)
        assert result.returncode == 1 and result.stderr.strip() == f"evaluation failed: {line}", result.stderr
        assert not (out / "metrics.json").exists()


def test_a_missing_output_folder_is_made(submission):
    midog_submission(submission)
    submission.output_dir = submission.root / "made" / "for" / "it"
    assert submission.run() == 0 and submission.metrics()["aggregates"]["n_cases"] == 3


def test_debug_shows_the_traceback(submission, capsys):
    submission.points_truth(TRUTH)
    assert submission.run("--debug") == 1
    assert "Traceback" in capsys.readouterr().err


def test_summary_is_printed_without_quiet(submission, capsys):
    midog_submission(submission)
    assert (
        cli.main(
            [
                "--input",
                str(submission.input_dir),
                "--ground-truth",
                str(submission.gt_dir),
                "--output",
                str(submission.output_dir),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "config: built-in defaults" in out and "detection: f1_score=0.6667" in out and "wrote" in out


def test_help_explains_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for text in (
        "/input",
        "/output",
        "/opt/ml/input/data/ground_truth",
        "/opt/evaluation/ground-truth",
        "predictions.json",
        "metrics.json",
        "points.json",
    ):
        assert text in out


def test_ground_truth_falls_back_to_the_older_location(tmp_path, monkeypatch):
    new, old = tmp_path / "new", tmp_path / "old"
    monkeypatch.setattr(cli, "GROUND_TRUTH_DIRS", (new, old))
    assert cli._default_ground_truth() == new  # neither exists: the error will name the current one
    old.mkdir()
    assert cli._default_ground_truth() == old
    new.mkdir()
    assert cli._default_ground_truth() == new


def test_metrics_json_is_strict_json(submission):
    midog_submission(submission)
    assert submission.run() == 0
    text = submission.metrics_path.read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in metrics.json"))


def test_major_axis_in_micrometres_and_normal_slides_left_out(submission):
    """HeLP-style: the kit's algorithm writes the axis in um; normal slides have no axis to score."""
    submission.config(
        {"metrics": ["classification", "major_axis"], "major_axis": {"socket": "tumour-major-axis", "unit": "um"}}
    )
    submission.slides_csv("case,label,major_axis_mm\n001.tiff,1,0.5\n002.tiff,1,0.6\n003.tiff,0,0\n004.tiff,0,\n")
    for image, likelihood, axis_um in (
        ("001.tiff", 0.9, 510.0),
        ("002.tiff", 0.8, 700.0),
        ("003.tiff", 0.2, 0.0),
        ("004.tiff", 0.1, 0.0),
    ):
        submission.job(image, {"tumour-likelihood": likelihood, "tumour-major-axis": axis_um})
    submission.write_predictions()
    assert submission.run() == 0
    metrics = submission.metrics()
    axis = metrics["aggregates"]["major_axis"]
    assert axis["n_cases"] == 2 and axis["accuracy"] == 0.5  # 510 um vs 0.5 mm: 2 %; 700 vs 600: 17 %
    assert axis["mean_absolute_error_mm"] == pytest.approx((0.01 + 0.1) / 2)
    assert metrics["aggregates"]["classification"]["auc"] == 1.0
    by_case = {c["case"]: c for c in metrics["results"]}
    assert "major_axis" not in by_case["003"] and by_case["001"]["major_axis"]["within_tolerance"]


def test_major_axis_in_the_wrong_unit_is_refused_not_scored(submission, capsys):
    """Micrometres where the config says millimetres are 1000 times too long: refused, naming the job and unit."""
    submission.config({"metrics": ["major_axis"], "major_axis": {"socket": "tumour-major-axis", "unit": "mm"}})
    submission.slides_csv("case,label,major_axis_mm\n001.tiff,1,13.3\n002.tiff,1,18.8\n003.tiff,0,\n")
    for image, axis_um in (("001.tiff", 13_400.0), ("002.tiff", 18_900.0), ("003.tiff", 0.0)):
        submission.job(image, {"tumour-major-axis": axis_um})
    submission.write_predictions()
    assert submission.run() == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0] == (
        "evaluation failed: job job-0000 (image '001.tiff') output 'tumour-major-axis' (tumour-major-axis.json): "
        "a length of 13400 mm is longer than any slide (100 mm) and over 100 times the longest ground-truth "
        "length (18.8 mm): you need to provide the length in millimetres (major_axis.unit 'mm'), not micrometres"
    )
    assert not submission.output_dir.exists()


def test_a_long_but_plausible_major_axis_is_scored(submission):
    """Wrong by 10 times, or beyond 100 mm but within 100 times the truth: a bad prediction, scored as one."""
    submission.config({"metrics": ["major_axis"], "major_axis": {"socket": "tumour-major-axis", "unit": "mm"}})
    submission.slides_csv("case,label,major_axis_mm\n001.tiff,1,1.5\n002.tiff,1,2.0\n")
    for image, axis_mm in (("001.tiff", 15.0), ("002.tiff", 150.0)):  # 150 mm < 100 x 2.0 mm
        submission.job(image, {"tumour-major-axis": axis_mm})
    submission.write_predictions()
    assert submission.run() == 0
    axis = submission.metrics()["aggregates"]["major_axis"]
    assert axis["accuracy"] == 0.0 and axis["mean_relative_error"] == pytest.approx((9.0 + 74.0) / 2)


def _segmentation_submission(submission, spacing: tuple[float, float]) -> None:
    submission.config({"metrics": ["segmentation"], "segmentation": {"socket": "nuclei-segmentation"}})
    truth = np.zeros((48, 64), np.uint8)
    truth[10:30, 20:40] = 1
    submission.truth_mask("001.mha", truth, (0.001, 0.001))
    prediction = truth[::2, ::2]  # half resolution: 32 x 24 pixels over the same 0.064 x 0.048 mm
    submission.job("001.tiff", masks={"nuclei-segmentation": (prediction, spacing)})
    submission.write_predictions()


def test_a_mask_spacing_in_the_wrong_unit_is_refused_naming_both_spacings(submission, capsys):
    _segmentation_submission(submission, (2.0, 2.0))  # micrometres written as ITK's millimetres
    assert submission.run() == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "evaluation failed: job job-0000 (image '001.tiff') output 'nuclei-segmentation' (result.mha): "
        "covers 64 x 48 mm (32 x 24 pixels, spacing 2 x 2 mm) but ground truth mask "
    ), lines[0]
    assert lines[0].endswith(
        "001.mha covers 0.064 x 0.048 mm (64 x 48 pixels, spacing 0.001 x 0.001 mm): "
        "the spacing looks like micrometres; a mask's spacing is in millimetres per pixel"
    ), lines[0]
    assert not submission.output_dir.exists()


def test_a_mask_at_another_resolution_over_the_same_extent_is_scored(submission):
    _segmentation_submission(submission, (0.002, 0.002))
    assert submission.run() == 0
    assert submission.metrics()["results"][0]["segmentation"]["dice"] == 1.0


def test_unknown_length_unit_is_refused(submission, capsys):
    submission.config({"metrics": ["major_axis"], "major_axis": {"unit": "inch"}})
    submission.slides_csv("case,label,major_axis_mm\n001.tiff,1,0.5\n")
    submission.job("001.tiff", {"tumour-major-axis": 1.0})
    submission.write_predictions()
    assert submission.run() == 1
    assert "major_axis.unit: expected one of ['mm', 'um'], got 'inch'" in capsys.readouterr().err


@pytest.mark.parametrize(("signum", "status", "line"), [(2, 130, "interrupted"), (15, 143, "terminated (SIGTERM)")])
def test_a_stopped_evaluation_is_one_line_and_leaves_no_metrics(tmp_path, signum, status, line):
    """Ctrl-C (SIGINT) or docker stop (SIGTERM) 50 ms into the container's own test case: one line, 130 or 143,
    nothing written (Ctrl-C showed a traceback; SIGTERM skipped the clean-up)."""
    out = tmp_path / "output"
    argv = [
        "--input",
        str(REPO / "evaluation/test/input"),
        "--ground-truth",
        str(REPO / "evaluation/test/ground_truth"),
    ]
    code = (
        "import os, signal, sys\n"
        "from evaluation import cli\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"  # as from a terminal (CI's runner ignores it)
        f"signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), {signum}))\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.05)\n"
        f"sys.exit(cli.main({[*argv, '--output', str(out), '--plots']!r}))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == status and result.stderr == f"evaluation failed: {line}\n", result.stderr
    assert not (out / "metrics.json").exists()
