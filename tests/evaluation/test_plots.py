"""The plots: written only when asked for, real PNGs of a fixed size, drawn from the metrics' own numbers."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation import cli
from evaluation.config import load_config, parse_config
from evaluation.evaluate import run_evaluation
from evaluation.metrics import classification, detection
from evaluation.plots import (
    CASE_LABEL_CHARS,
    FIGURE_SIZE_PX,
    PLOTS,
    dice_height_px,
    drawn_figure,
    plot_files,
    render_plots,
    short_case_labels,
)
from tests.evaluation.builders import Submission, point, points_value

REPO = Path(__file__).resolve().parents[2]
TEST_CASE = REPO / "evaluation" / "test"
ALL_PLOTS = {"classification_roc.png", "detection_froc.png", "detection_precision_recall.png", "segmentation_dice.png"}

IMAGES = [f"{i:03d}.tiff" for i in range(1, 7)]
LABELS = [1, 1, 1, 0, 0, 0]
TRUTH_POINTS = [[[0.1 * k, 0.1] for k in range(1, 4)], [[0.2, 0.3]], [], [[0.5, 0.5], [0.6, 0.6]], [[0.4, 0.2]], []]


def _write_task(submission, *, good: bool, plots: bool | None = None) -> None:
    """Six cases with all three pictured metrics; a good submission finds the truth, a bad one does not."""
    config: dict = {"metrics": ["detection", "classification", "segmentation"]}
    if plots is not None:
        config["plots"] = plots
    submission.config(config)
    submission.points_truth(
        {img: {"points": pts, "size_mm": [1.0, 1.0]} for img, pts in zip(IMAGES, TRUTH_POINTS, strict=True)}
    )
    submission.slides_csv("case,label\n" + "".join(f"{img},{lab}\n" for img, lab in zip(IMAGES, LABELS, strict=True)))
    rng = np.random.default_rng(3)
    for i, (image, label, pts) in enumerate(zip(IMAGES, LABELS, TRUTH_POINTS, strict=True)):
        truth_mask = np.zeros((16, 16), np.uint8)
        truth_mask[2 : 6 + i, 3:10] = 1
        submission.truth_mask(f"{image[:3]}.mha", truth_mask, (0.01, 0.01))
        if good:
            found = [point(x + 0.001, y, 0.9 - 0.05 * k) for k, (x, y) in enumerate(pts)]
            extra = [point(0.9, 0.9, 0.2, "non-mitotic figure")]
            likelihood = 0.6 + 0.05 * i if label else 0.1 + 0.05 * i
            predicted_mask = truth_mask
        else:
            found = [point(0.05 + 0.1 * k, 0.8, 0.95 - 0.1 * k) for k in range(3)]
            extra = []
            likelihood = 0.3 if label else 0.7 - 0.05 * i
            predicted_mask = (rng.random((16, 16)) < 0.3).astype(np.uint8)
        submission.job(
            image,
            {"mitotic-figures": points_value(*found, *extra), "tumour-likelihood": likelihood},
            masks={"nuclei-segmentation": (predicted_mask, (0.01, 0.01))},
        )
    submission.write_predictions()


def _pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_test_case_plots_are_pngs_of_the_fixed_size_and_listed_in_the_log(tmp_path, capsys):
    argv = ["--input", str(TEST_CASE / "input"), "--ground-truth", str(TEST_CASE / "ground_truth")]
    assert cli.main([*argv, "--output", str(tmp_path), "--plots"]) == 0
    assert set(os.listdir(tmp_path)) == ALL_PLOTS | {"metrics.json"}
    log = capsys.readouterr().out
    for name in ALL_PLOTS:
        assert f"wrote {tmp_path / name}\n" in log
        with Image.open(tmp_path / name) as image:
            image.load()  # decodes every pixel, not only the header
            assert image.format == "PNG" and image.size == FIGURE_SIZE_PX
            assert "Software" not in image.info
            assert len(image.getcolors(maxcolors=1 << 20) or []) > 10  # drawn on, not blank
    assert plot_files(["detection", "classification", "segmentation", "major_axis"]) == [
        "detection_froc.png",
        "detection_precision_recall.png",
        "classification_roc.png",
        "segmentation_dice.png",
    ]


def test_no_plots_unless_asked_for(submission):
    _write_task(submission, good=True)
    assert submission.run() == 0
    assert os.listdir(submission.output_dir) == ["metrics.json"]


def test_the_config_asks_for_plots_and_the_command_line_overrides_it(submission):
    _write_task(submission, good=True, plots=True)
    assert submission.run() == 0  # no argument: grand-challenge's way
    assert set(_pngs(submission.output_dir)) == ALL_PLOTS
    assert "plots" not in submission.metrics()["aggregates"]["config"]  # it changes no number
    assert submission.run("--no-plots") == 0
    assert _pngs(submission.output_dir) == {}


def test_good_and_bad_submissions_give_different_pictures_the_same_input_the_same_bytes(tmp_path):
    pictures = {}
    for name in ("good", "bad", "good-again"):
        submission = Submission(tmp_path / name)
        _write_task(submission, good=name != "bad")
        assert submission.run("--plots") == 0
        pictures[name] = _pngs(submission.output_dir)
        metrics = submission.metrics()["aggregates"]
        if name == "good":
            assert metrics["classification"]["auc"] == 1.0 and metrics["segmentation"]["mean_dice"] == 1.0
        elif name == "bad":
            assert metrics["classification"]["auc"] < 0.5 and metrics["detection"]["average_precision"] < 0.5
    assert set(pictures["good"]) == set(pictures["bad"]) == ALL_PLOTS
    for file in ALL_PLOTS:
        assert pictures["good"][file] != pictures["bad"][file], file
    assert pictures["good"] == pictures["good-again"]


def test_the_curves_drawn_are_the_ones_the_metrics_come_from(submission):
    _write_task(submission, good=False)
    config = parse_config({"metrics": ["detection", "classification"], "ignore_outputs": ["nuclei-segmentation"]})
    evaluation = run_evaluation(submission.input_dir, submission.gt_dir, config)
    agg = evaluation.metrics["aggregates"]
    points = classification.roc_points(evaluation.labels, evaluation.likelihoods)
    assert points is not None
    fpr, tpr = points
    assert np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2) == pytest.approx(agg["classification"]["auc"], abs=1e-12)
    probabilities, hits, n_truth = detection.pooled(evaluation.detection_cases)
    recall, precision = detection.precision_recall_curve(probabilities, hits, n_truth)
    steps = np.sum(np.diff(np.r_[0.0, recall]) * precision)  # the area under the drawn steps
    assert steps == agg["detection"]["average_precision"]
    fp_per_case, sensitivity = detection.froc_curve(probabilities, hits, n_truth, len(evaluation.detection_cases))
    froc = agg["detection"]["froc"]
    sampled = [float(sensitivity[fp_per_case <= r].max(initial=0.0)) for r in froc["fp_per_case"]]
    assert sampled == froc["sensitivity"]


def test_undefined_curves_still_give_a_picture(submission):
    submission.config({"metrics": ["detection", "classification"]})
    submission.points_truth({"001.tiff": [], "002.tiff": []})
    submission.slides_csv("case,label\n001.tiff,1\n002.tiff,1\n")
    for name in ("001.tiff", "002.tiff"):
        submission.job(name, {"mitotic-figures": points_value(point(0.1, 0.1, 0.5)), "tumour-likelihood": 0.7})
    submission.write_predictions()
    assert submission.run("--plots") == 0
    metrics = submission.metrics()["aggregates"]
    assert metrics["classification"]["auc"] is None and metrics["detection"]["average_precision"] is None
    pngs = _pngs(submission.output_dir)
    assert set(pngs) == {"classification_roc.png", "detection_froc.png", "detection_precision_recall.png"}
    for file, data in pngs.items():
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == FIGURE_SIZE_PX, file


def test_without_matplotlib_plots_fail_in_one_line_and_the_default_runs(submission, capsys, monkeypatch):
    _write_task(submission, good=True)
    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert submission.run("--plots") == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("evaluation failed: plots were asked for"), lines
    assert "matplotlib cannot be imported" in lines[0]
    assert not submission.output_dir.exists() or os.listdir(submission.output_dir) == []
    assert submission.run() == 0
    assert os.listdir(submission.output_dir) == ["metrics.json"]


def test_the_default_evaluation_does_not_import_matplotlib(tmp_path):
    code = (
        "import sys; from evaluation.cli import main; "
        f"rc = main(['--input', {str(TEST_CASE / 'input')!r}, '--ground-truth', {str(TEST_CASE / 'ground_truth')!r}, "
        f"'--output', {str(tmp_path)!r}, '--quiet']); "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'PIL')]; "
        "print(loaded); sys.exit(rc or (1 if loaded else 0))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_failed_metrics_write_removes_the_plots(submission, capsys):
    _write_task(submission, good=True)
    (submission.output_dir / "metrics.json").mkdir(parents=True)  # a folder where the file should go
    assert submission.run("--plots") == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "cannot write" in err[0] and "metrics.json" in err[0]
    assert os.listdir(submission.output_dir) == ["metrics.json"]  # only the folder: no plot left behind


def test_a_failed_run_removes_the_previous_runs_plots_and_metrics_and_nothing_else(submission, capsys):
    """The README's promise, with an earlier good run in the folder: no metrics.json nor plots after a failure."""
    _write_task(submission, good=True)
    assert submission.run("--plots") == 0
    (submission.output_dir / "notes.txt").write_text("not the evaluation's")
    (submission.output_dir / "other.png").write_bytes(b"not the evaluation's either")
    job = submission.jobs[0]
    (submission.input_dir / job["pk"] / "output" / "mitotic-figures.json").unlink()
    assert submission.run("--plots") == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "mitotic-figures.json): file not found" in err[0], err
    assert sorted(os.listdir(submission.output_dir)) == ["notes.txt", "other.png"]


def test_a_run_keeps_no_plot_of_an_earlier_run_beside_its_metrics(submission):
    """metrics.json and the plots beside it are always one run's: a run without plots removes older plots."""
    _write_task(submission, good=True)
    assert submission.run("--plots") == 0
    assert set(_pngs(submission.output_dir)) == ALL_PLOTS
    assert submission.run() == 0
    assert os.listdir(submission.output_dir) == ["metrics.json"]


def test_render_is_deterministic_in_process(submission):
    _write_task(submission, good=True)
    config = parse_config({"metrics": ["detection", "classification", "segmentation"]})
    evaluation = run_evaluation(submission.input_dir, submission.gt_dir, config)
    first, second = render_plots(evaluation), render_plots(evaluation)
    assert first == second and list(first) == plot_files(config.metrics)


# The pictures read by people: long case names, no false positives, one class, colour-blind readers.

LONG_NAMES = [f"TCGA-A2-A0T2-01Z-00-DX1.{k:03d}C3E9F0D8-6E47-4B3C-9D1E-{k:012d}.svs" for k in range(1, 13)]


def _drawn(evaluation, name: str):
    """The figure ``name`` is drawn on, laid out as it is saved, and its renderer."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    family = next(f for f, plots in PLOTS.items() if name in plots)
    with matplotlib.style.context("default"):
        fig = drawn_figure(PLOTS[family][name], evaluation)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
    return fig, canvas.get_renderer()


def _inside(box, figure_box, slack: float = 0.5) -> bool:
    return (
        box.x0 >= figure_box.x0 - slack
        and box.y0 >= figure_box.y0 - slack
        and box.x1 <= figure_box.x1 + slack
        and box.y1 <= figure_box.y1 + slack
    )


def _segmentation_task(submission, names: list[str]) -> None:
    submission.config({"metrics": ["segmentation"]})
    for i, name in enumerate(names):
        truth = np.zeros((16, 16), np.uint8)
        truth[2:10, 3:10] = 1
        predicted = truth.copy()
        predicted[2 : 2 + i % 8, 3:10] = 0  # a Dice that falls case by case
        submission.truth_mask(f"{Path(name).stem}.mha", truth, (0.01, 0.01))
        submission.job(name, masks={"nuclei-segmentation": (predicted, (0.01, 0.01))})
    submission.write_predictions()


def test_long_case_names_are_shortened_keeping_what_tells_them_apart():
    labels = short_case_labels(LONG_NAMES)
    assert all(len(label) <= CASE_LABEL_CHARS for label in labels)
    assert len(set(labels)) == len(labels)
    for k, label in enumerate(labels, start=1):
        assert f".{k:03d}" in label and label.startswith("TCGA-") and label.endswith(".svs") and "…" in label
    assert short_case_labels(["001", "002"]) == ["001", "002"]  # short names as they are
    assert len(short_case_labels(["x" * 90])[0]) == CASE_LABEL_CHARS  # one long name: its middle goes
    alike = short_case_labels(["a" * 30 + "1" + "b" * 30 + "1", "a" * 30 + "2" + "b" * 30 + "2", "c" * 70])
    assert len(set(alike)) == 3


def test_the_dice_plot_of_long_names_keeps_its_labels_inside_and_grows_with_the_cases(submission):
    _segmentation_task(submission, LONG_NAMES)
    evaluation = run_evaluation(submission.input_dir, submission.gt_dir, parse_config({"metrics": ["segmentation"]}))
    fig, renderer = _drawn(evaluation, "segmentation_dice.png")
    (ax,) = fig.axes
    assert _inside(ax.yaxis.label.get_window_extent(renderer), fig.bbox), ax.get_ylabel()
    assert _inside(ax.xaxis.label.get_window_extent(renderer), fig.bbox)
    assert _inside(ax.title.get_window_extent(renderer), fig.bbox)
    ticks = ax.get_yticklabels()
    assert [t.get_text() for t in ticks] == short_case_labels([Path(n).stem for n in LONG_NAMES])
    assert all(_inside(t.get_window_extent(renderer), fig.bbox) for t in ticks)
    assert ax.get_window_extent(renderer).height > 0.5 * fig.bbox.height  # the bars are not squashed
    assert "metrics.json" in ax.get_ylabel()  # where the full names are
    assert [r["case"] for r in evaluation.metrics["results"]] == [Path(n).stem for n in LONG_NAMES]

    many = Submission(submission.root / "many")
    _segmentation_task(many, [f"case-{k:03d}.tiff" for k in range(60)])
    assert many.run("--plots") == 0
    with Image.open(many.output_dir / "segmentation_dice.png") as image:
        assert image.size == (FIGURE_SIZE_PX[0], dice_height_px(60)) and dice_height_px(60) > FIGURE_SIZE_PX[1]


def test_a_submission_without_false_positives_is_drawn_whole_at_a_tick_saying_0(submission):
    submission.config({"metrics": ["detection"]})
    truth = {"001.tiff": [[0.1, 0.1], [0.3, 0.3]], "002.tiff": [[0.5, 0.5]]}
    submission.points_truth({name: {"points": pts, "size_mm": [1.0, 1.0]} for name, pts in truth.items()})
    submission.job("001.tiff", {"mitotic-figures": points_value(point(0.1, 0.1, 0.9))})
    submission.job("002.tiff", {"mitotic-figures": points_value(point(0.5, 0.5, 0.8))})
    submission.write_predictions()
    evaluation = run_evaluation(submission.input_dir, submission.gt_dir, parse_config({"metrics": ["detection"]}))
    assert evaluation.metrics["aggregates"]["detection"]["false_positives"] == 0
    fig, renderer = _drawn(evaluation, "detection_froc.png")
    (ax,) = fig.axes
    (dot,) = [line for line in ax.get_lines() if line.get_label().startswith("submission's points")]
    assert dot.get_xdata()[0] == 0.0
    assert _inside(dot.get_window_extent(renderer), ax.get_window_extent(renderer))  # the whole marker
    assert 0.0 in list(ax.get_xticks()) and "0" in [t.get_text() for t in ax.get_xticklabels()]
    left, _ = ax.get_xlim()
    assert left < 0.0


def test_domain_curves_differ_in_more_than_hue_and_the_operating_point_has_an_edge():
    import matplotlib.colors

    config, _ = load_config(None, TEST_CASE / "ground_truth")
    evaluation = run_evaluation(TEST_CASE / "input", TEST_CASE / "ground_truth", config)
    assert len(evaluation.metrics["aggregates"]["detection"]["per_domain"]) == 2
    fig, _ = _drawn(evaluation, "detection_precision_recall.png")
    (ax,) = fig.axes
    lines = {line.get_label().split(":")[0]: line for line in ax.get_lines()}
    domains = [lines["canine lymphoma"], lines["human breast carcinoma"], lines["all cases"]]
    looks = {(line.get_linestyle(), line.get_marker(), line.get_color()) for line in domains}
    assert len(looks) == 3 and len({look[:2] for look in looks}) == 3  # told apart without colour
    (dot,) = [line for line in ax.get_lines() if line.get_label().startswith("submission's points")]
    assert matplotlib.colors.to_rgb(dot.get_markeredgecolor()) == (0.0, 0.0, 0.0) and dot.get_markeredgewidth() >= 1


def test_with_one_class_the_roc_has_its_note_and_no_diagonal_through_it(submission):
    submission.config({"metrics": ["classification"]})
    submission.slides_csv("case,label\n001.tiff,1\n002.tiff,1\n")
    for name in ("001.tiff", "002.tiff"):
        submission.job(name, {"tumour-likelihood": 0.7})
    submission.write_predictions()
    evaluation = run_evaluation(submission.input_dir, submission.gt_dir, parse_config({"metrics": ["classification"]}))
    fig, renderer = _drawn(evaluation, "classification_roc.png")
    (ax,) = fig.axes
    assert not [line for line in ax.get_lines() if line.get_label().startswith("chance")]
    (note,) = [t for t in ax.texts if "one class only" in t.get_text()]
    box = note.get_window_extent(renderer)
    for line in ax.get_lines():
        xy = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float))
        assert not any(box.contains(x, y) for x, y in xy), line.get_label()


def test_case_names_in_a_script_the_font_lacks_are_drawn_without_warnings(submission):
    """中文 or an emoji in a case name: boxes for those letters, the metrics untouched, and none of matplotlib's
    missing-glyph warnings (each printed with its source line) on the evaluation's stderr."""
    _segmentation_task(submission, ["病例 中文 🙂.tiff", "case-002.tiff"])
    evaluation = run_evaluation(submission.input_dir, submission.gt_dir, parse_config({"metrics": ["segmentation"]}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pngs = render_plots(evaluation)
    assert set(pngs) == {"segmentation_dice.png"} and pngs["segmentation_dice.png"].startswith(b"\x89PNG")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert sorted(r["case"] for r in evaluation.metrics["results"]) == ["case-002", "病例 中文 🙂"]
