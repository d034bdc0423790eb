"""predictions.json: jobs, their output locations, and the join to the ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.config import parse_config
from evaluation.errors import EvaluationError
from evaluation.ground_truth import load_ground_truth
from evaluation.predictions import find_image_output, join_to_ground_truth, load_json_output, read_predictions
from tests.evaluation.builders import Raw, interface, point, points_value

CONFIG = parse_config({})


def test_jobs_outputs_and_inline_values(submission):
    config = parse_config({"metrics": ["detection", "classification"]})
    value = points_value(point(0.1, 0.2))
    submission.job(
        "007.tiff", {"mitotic-figures": value, "tumour-likelihood": 0.25}, pk="abc-1", inline=("tumour-likelihood",)
    )
    submission.write_predictions()
    [job] = read_predictions(submission.input_dir, config)
    assert (job.pk, job.image_name, job.case) == ("abc-1", "007.tiff", "007")
    assert job.outputs["mitotic-figures"].path == submission.input_dir / "abc-1" / "output" / "mitotic-figures.json"
    assert load_json_output(job, "mitotic-figures")[0] == value
    assert load_json_output(job, "tumour-likelihood") == (
        0.25,
        "job abc-1 (image '007.tiff') output 'tumour-likelihood' (inline value)",
    )


def test_image_output_is_the_one_image_in_the_socket_folder(submission):
    config = parse_config({"metrics": ["segmentation"]})
    submission.job("a.tif", masks={"nuclei-segmentation": (np.zeros((3, 3), np.uint8), None)}, pk="p")
    submission.write_predictions()
    [job] = read_predictions(submission.input_dir, config)
    path, label = find_image_output(job, "nuclei-segmentation")
    assert path.name == "result.mha" and "output 'nuclei-segmentation' (result.mha)" in label
    (path.parent / "second.mha").write_bytes(path.read_bytes())
    with pytest.raises(EvaluationError, match="expected exactly one image .* found 2"):
        find_image_output(job, "nuclei-segmentation")


def test_case_input_picks_among_several_images(submission):
    job = submission.job("slide.tif", {"mitotic-figures": points_value()})
    job["inputs"].append(
        {
            "file": None,
            "image": {"name": "slide_tissue.tif"},
            "value": None,
            "interface": interface("tissue-mask", "images/tissue", "Segmentation", "Image"),
        }
    )
    submission.write_predictions()
    with pytest.raises(EvaluationError, match=r"cannot tell which input names the case: image inputs .*set case_input"):
        read_predictions(submission.input_dir, CONFIG)
    config = parse_config({"case_input": "tissue-mask"})
    assert read_predictions(submission.input_dir, config)[0].image_name == "slide_tissue.tif"


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda s: s.write_predictions(Raw("{not json")), "predictions.json: invalid JSON at line 1"),
        (lambda s: s.write_predictions({"jobs": []}), "expected a list of algorithm jobs, got dict"),
        (lambda s: s.write_predictions([]), "the submission has no algorithm jobs"),
        (lambda s: s.write_predictions(["x"]), "predictions.json job 0: each job must be a JSON object"),
        (lambda s: s.write_predictions([{**s.jobs[0], "pk": "../../etc"}]), "'pk' must be a job id"),
        (
            lambda s: s.write_predictions([{**s.jobs[0], "status": "Failed"}]),
            "job job-0000 (image '001.tiff'): status is 'Failed', not 'Succeeded'",
        ),
        (lambda s: s.write_predictions([{**s.jobs[0], "outputs": {}}]), "'outputs' must be a list"),
        (lambda s: s.write_predictions([s.jobs[0], s.jobs[0]]), "job job-0000 appears twice"),
    ],
)
def test_bad_predictions_json(submission, mutate, message):
    submission.job("001.tiff", {"mitotic-figures": points_value()})
    mutate(submission)
    with pytest.raises(EvaluationError) as err:
        read_predictions(submission.input_dir, CONFIG)
    assert message in str(err.value)


def test_unknown_missing_and_ignored_sockets(submission):
    submission.job("001.tiff", {"mitotic-figures": points_value(), "heatmap": 1})
    submission.write_predictions()
    with pytest.raises(
        EvaluationError,
        match=r"job job-0000 \(image '001.tiff'\): unknown output socket 'heatmap'; "
        r"this evaluation scores \['mitotic-figures'\]",
    ):
        read_predictions(submission.input_dir, CONFIG)
    assert read_predictions(submission.input_dir, parse_config({"ignore_outputs": ["heatmap"]}))
    submission.jobs[0]["outputs"] = submission.jobs[0]["outputs"][1:]
    submission.write_predictions()
    with pytest.raises(
        EvaluationError, match=r"no output for socket\(s\) \['mitotic-figures'\]; its outputs are \['heatmap'\]"
    ):
        read_predictions(submission.input_dir, parse_config({"ignore_outputs": ["heatmap"]}))


def test_unsafe_relative_path(submission):
    job = submission.job("001.tiff", {"mitotic-figures": points_value()})
    job["outputs"][0]["interface"]["relative_path"] = "../../secret.json"
    submission.write_predictions()
    with pytest.raises(EvaluationError, match="unsafe relative_path"):
        read_predictions(submission.input_dir, CONFIG)


def test_missing_output_file(submission):
    submission.job("001.tiff", {"mitotic-figures": points_value()})
    submission.write_predictions()
    [job] = read_predictions(submission.input_dir, CONFIG)
    job.outputs["mitotic-figures"].path.unlink()
    with pytest.raises(EvaluationError, match=r"output 'mitotic-figures' \(mitotic-figures.json\): file not found at"):
        load_json_output(job, "mitotic-figures")


def test_join_missing_extra_and_duplicate_cases(submission):
    submission.points_truth({"001.tiff": [], "002.tiff": [], "003.tiff": []})
    truth = load_ground_truth(submission.gt_dir, CONFIG)
    for image in ("002.tiff", "001.tiff", "003.tif"):
        submission.job(image, {"mitotic-figures": points_value()})
    submission.write_predictions()
    pairs = join_to_ground_truth(read_predictions(submission.input_dir, CONFIG), truth)
    assert [(j.image_name, c.case) for j, c in pairs] == [("001.tiff", "001"), ("002.tiff", "002"), ("003.tif", "003")]

    submission.write_predictions(submission.jobs[:2])
    with pytest.raises(EvaluationError, match=r"1 of 3 ground-truth case\(s\) have no algorithm job: \['003'\]"):
        join_to_ground_truth(read_predictions(submission.input_dir, CONFIG), truth)

    submission.job("999.tiff", {"mitotic-figures": points_value()})
    submission.write_predictions()
    with pytest.raises(EvaluationError, match=r"job job-0003 \(image '999.tiff'\): no ground truth for case '999'"):
        join_to_ground_truth(read_predictions(submission.input_dir, CONFIG), truth)

    submission.jobs[3]["inputs"][0]["image"]["name"] = "001.tif"
    submission.write_predictions()
    with pytest.raises(EvaluationError, match="both case '001'"):
        join_to_ground_truth(read_predictions(submission.input_dir, CONFIG), truth)
