"""Ground-truth formats: points.json, slides.csv/json, masks/."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.config import parse_config
from evaluation.errors import EvaluationError
from evaluation.ground_truth import case_id, load_ground_truth

DETECTION = parse_config({})
SLIDES = parse_config({"metrics": ["classification", "major_axis"]})


@pytest.mark.parametrize(
    "name,case",
    [
        ("007.tiff", "007"),
        ("007", "007"),
        ("slide.svs", "slide"),
        ("a.nii.gz", "a"),
        ("A.TIF", "A"),
        ("case.1.mha", "case.1"),
        (".tif", ".tif"),
        ("notes.txt", "notes.txt"),
    ],
)
def test_case_id(name, case):
    assert case_id(name) == case


def test_points_json_with_domain_size_and_midog_aliases(submission):
    submission.points_truth(
        {
            "001.tiff": {"points": [[0.1, 0.2], [0.3, 0.4, 0]], "domain": "canine lymphoma", "size_mm": [1.8, 1.35]},
            "002.tiff": {"annotations": [[0.5, 0.6, 0]], "tumor domain": 3, "roi type": "hotspot"},
            "003": [],
        }
    )
    gt = load_ground_truth(submission.gt_dir, DETECTION)
    assert list(gt.cases) == ["001", "002", "003"]
    np.testing.assert_array_equal(gt.cases["001"].points_mm, [[0.1, 0.2], [0.3, 0.4]])
    assert gt.cases["001"].domain == "canine lymphoma" and gt.cases["001"].size_mm == (1.8, 1.35)
    points = gt.cases["003"].points_mm
    assert gt.cases["002"].domain == "3" and points is not None and points.shape == (0, 2)


@pytest.mark.parametrize(
    "content,message",
    [
        ([], "expected a JSON object keyed by image name"),
        ({"a.tif": {"pts": []}}, "case 'a.tif': no 'points' list"),
        ({"a.tif": {"points": [[0.1]]}}, "point 0 must be [x_mm, y_mm]"),
        ({"a.tif": {"points": [["0.1", 0.2]]}}, "point 0 must be"),
        ({"a.tif": {"points": [], "size_mm": [1]}}, "size_mm must be [width_mm, height_mm]"),
        ({"a.tif": {"points": [[2.0, 0.1]], "size_mm": [1.0, 1.0]}}, "outside size_mm"),
        ({"a.tif": {"points": []}, "a.tiff": {"points": []}}, "'a.tif' and 'a.tiff' are the same case 'a'"),
        ({"a.tif": {"points": [], "domain": [1]}}, "domain must be a string or an integer"),
    ],
)
def test_bad_points_truth(submission, content, message):
    submission.points_truth(content)
    with pytest.raises(EvaluationError) as err:
        load_ground_truth(submission.gt_dir, DETECTION)
    assert "points.json" in str(err.value) and message in str(err.value)


def test_slides_csv_and_json(submission):
    submission.slides_csv("case,label,major_axis_mm,domain\n001.tiff,1,12.5,a\n002.tiff,0,3,b\n")
    gt = load_ground_truth(submission.gt_dir, SLIDES)
    assert gt.cases["001"].label == 1 and gt.cases["001"].major_axis_mm == 12.5 and gt.cases["002"].domain == "b"
    (submission.gt_dir / "slides.csv").unlink()
    (submission.gt_dir / "slides.json").write_text(json.dumps({"001.tiff": {"label": True, "major_axis_mm": 4}}))
    assert load_ground_truth(submission.gt_dir, SLIDES).cases["001"].label == 1
    # Only the columns the enabled metrics use are required.
    (submission.gt_dir / "slides.json").write_text(json.dumps({"001.tiff": {"label": 0}}))
    assert load_ground_truth(submission.gt_dir, parse_config({"metrics": ["classification"]})).cases["001"].label == 0


@pytest.mark.parametrize(
    "text,message",
    [
        ("name,label\na,1\n", "must have a 'case' column"),
        ("case,label,major_axis_mm\na,2,1\n", "label must be 0 or 1, got '2'"),
        ("case,label,major_axis_mm\na,1,-3\n", "major_axis_mm must be a positive number"),
        ("case,label\na,1\n", "no case has a major_axis_mm"),
        ("case,label,major_axis_mm\na,1,2\na,0,2\n", "line 3: case 'a' appears twice"),
    ],
)
def test_bad_slides(submission, text, message):
    submission.slides_csv(text)
    with pytest.raises(EvaluationError) as err:
        load_ground_truth(submission.gt_dir, SLIDES)
    assert "slides.csv" in str(err.value) and message in str(err.value)


def test_both_slide_files_is_ambiguous(submission):
    submission.slides_csv("case,label,major_axis_mm\na,1,2\n")
    (submission.gt_dir / "slides.json").write_text("{}")
    with pytest.raises(EvaluationError, match="both slides.csv and slides.json exist"):
        load_ground_truth(submission.gt_dir, SLIDES)


def test_masks_and_case_sets_must_agree(submission):
    config = parse_config({"metrics": ["detection", "segmentation"]})
    submission.points_truth({"001.tiff": [], "002.tiff": []})
    submission.truth_mask("001.tif", np.zeros((4, 4), np.uint8), None)
    with pytest.raises(EvaluationError, match=r"ground truth masks/ has no entry for case\(s\) \['002'\]"):
        load_ground_truth(submission.gt_dir, config)
    submission.truth_mask("002.mha", np.zeros((4, 4), np.uint8), None)
    gt = load_ground_truth(submission.gt_dir, config)
    mask_path = gt.cases["002"].mask_path
    assert mask_path is not None and mask_path.name == "002.mha"
    submission.truth_mask("002.tiff", np.zeros((4, 4), np.uint8), None)
    with pytest.raises(EvaluationError, match="two masks for case '002'"):
        load_ground_truth(submission.gt_dir, config)


def test_missing_files(submission):
    with pytest.raises(EvaluationError, match="detection needs .*points.json"):
        load_ground_truth(submission.gt_dir, DETECTION)
    with pytest.raises(EvaluationError, match="need .*slides.csv or .*slides.json"):
        load_ground_truth(submission.gt_dir, SLIDES)
    with pytest.raises(EvaluationError, match="ground-truth folder not found"):
        load_ground_truth(submission.gt_dir / "nope", DETECTION)
    submission.points_truth({})
    with pytest.raises(EvaluationError, match="the ground truth has no cases"):
        load_ground_truth(submission.gt_dir, DETECTION)
