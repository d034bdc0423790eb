from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from tests.conftest import REPO, blob_image, write_pyramid_tiff
from tests.unprivileged import locked_folder, run_limited, run_python, unreadable


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "algorithm", *args], cwd=REPO, capture_output=True, text=True)


def test_help_explains_itself() -> None:
    result = _run("--help")
    assert result.returncode == 0
    assert "--input" in result.stdout and "--inspect" in result.stdout and "examples" in result.stdout


def test_inspect_a_slide(tmp_path: Path) -> None:
    path = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(1200, 800), mpp=0.5, tile=128)
    result = _run("--inspect", str(path), "--tile-size", "256")
    assert result.returncode == 0, result.stderr
    assert "0.5000 x 0.5000 um/px" in result.stdout
    assert "levels      1200x800, 600x400, 300x200" in result.stdout
    assert "stored      128 x 128 px tiles, each decoded once by the tile engine (not JPEG)" in result.stdout
    jpeg = write_pyramid_tiff(tmp_path / "j.tiff", blob_image(600, 400), mpp=0.5, tile=256, compression="jpeg")
    picture = tmp_path / "p.png"
    Image.fromarray(blob_image(300, 200)).save(picture)
    result = _run("--inspect", str(picture), "--mpp", "0.5")
    assert result.returncode == 0, result.stderr
    assert "stored      none read directly: the tile engine reads regions through pillow" in result.stdout
    result = _run("--inspect", str(jpeg))
    assert "256 x 256 px tiles, each decoded once by the tile engine (JPEG: with --device cuda" in result.stdout


def test_inspect_folder_reports_every_bad_slide_in_one_line(shared_data: Path) -> None:
    result = _run("--inspect", str(shared_data / "openslide"))
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2
    assert all(line.startswith("error: ") for line in errors)
    assert "Traceback" not in result.stderr
    assert "small.svs" in result.stdout and "boxes.tiff" in result.stdout


def test_missing_slide_is_one_line() -> None:
    result = _run("--inspect", "/nonexistent/slide.svs")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: /nonexistent/slide.svs: no such file"


def test_the_container_task_comes_from_the_environment(tmp_path: Path) -> None:
    """The image sets ALGORITHM_TASK (build arg TASK); a bad value is one line, before any slide is read."""
    import os

    env = {**os.environ, "ALGORITHM_TASK": "nope"}
    result = subprocess.run(
        [sys.executable, "-m", "algorithm", "--input", str(tmp_path)], cwd=REPO, capture_output=True, text=True, env=env
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "error: unknown task 'nope'; choose one of midog, help, nuclei, label, all or give --task-file"
    )
    env["ALGORITHM_TASK"] = "help"
    assert (
        "now help"
        in subprocess.run(
            [sys.executable, "-m", "algorithm", "--help"], cwd=REPO, capture_output=True, text=True, env=env
        ).stdout
    )


def test_a_job_says_where_the_time_went_and_bad_worker_counts_are_one_line(tmp_path: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(1200, 800), mpp=0.25, tile=128, compression="jpeg")
    result = _run(
        "--input",
        str(slide),
        "--output",
        str(tmp_path / "out"),
        "--device",
        "cpu",
        "--workers",
        "2",
        "--batch-size",
        "4",
    )
    assert result.returncode == 0, result.stderr
    assert "tiles/s on cpu (2 readers, batch 4;" in result.stderr
    # --device-decode is for a GPU: on the CPU the job runs as before, the same bytes out
    same = _run("--input", str(slide), "--output", str(tmp_path / "dd"), "--device", "cpu", "--device-decode")
    assert same.returncode == 0, same.stderr
    for path in (tmp_path / "out").rglob("*.json"):
        assert (tmp_path / "dd" / path.relative_to(tmp_path / "out")).read_bytes() == path.read_bytes()
    for option in ("--workers", "--batch-size"):
        bad = _run("--input", str(slide), "--output", str(tmp_path / "bad"), option, "0")
        assert bad.returncode == 2 and bad.stderr.strip().endswith(f"error: argument {option}: at least 1, got 0")
        assert not (tmp_path / "bad").exists()


def test_qc_draws_the_jobs_picture_and_a_bad_qc_path_stops_before_the_job(tmp_path: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(1200, 800), mpp=0.25, tile=128, compression="jpeg")
    out, picture = tmp_path / "out", tmp_path / "qc.png"
    result = _run("--input", str(slide), "--output", str(out), "--device", "cpu", "--qc", str(picture))
    assert result.returncode == 0, result.stderr
    assert (out / "mitotic-figures.json").is_file()
    with Image.open(picture) as image:  # the thumbnail (at most 1024 px) above its legend and caption
        assert image.format == "PNG" and image.width == 1024 and image.height > 1024 * 800 // 1200
    assert f"QC picture: {picture}" in result.stderr
    for qc, message in (
        (
            tmp_path / "none" / "qc.png",
            f"error: --qc {tmp_path / 'none' / 'qc.png'}: folder {tmp_path / 'none'} not found",
        ),
        (tmp_path / "qc.jpg", f"error: --qc {tmp_path / 'qc.jpg'}: the picture is a PNG; name it <something>.png"),
        (slide / "qc.png", f"error: --qc {slide / 'qc.png'}: {slide} is a file, not a folder"),
    ):
        bad = _run("--input", str(slide), "--output", str(tmp_path / "bad"), "--qc", str(qc))
        assert bad.returncode == 1 and bad.stderr.strip() == message
        assert not (tmp_path / "bad").exists()  # refused before the job: no outputs
    inside = _run("--input", str(slide), "--output", str(tmp_path / "new"), "--qc", str(tmp_path / "new" / "qc.png"))
    assert inside.returncode == 0, inside.stderr  # the output folder the job makes may hold the picture
    assert (tmp_path / "new" / "qc.png").is_file() and (tmp_path / "new" / "mitotic-figures.json").is_file()
    invoke = _run("--api-method", "invoke", "--qc", str(picture))
    assert invoke.returncode == 1
    assert invoke.stderr.strip() == "error: --qc draws one job's picture: not with --api-method invoke"


def test_a_resolution_or_threshold_out_of_range_and_a_file_as_output_are_refused_before_the_job(tmp_path: Path) -> None:
    slide = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(400, 300), mpp=0.25, tile=128)
    out = tmp_path / "out"
    for option, value, message in (
        ("--mpp", "-1", "argument --mpp: microns per pixel between 0.01 and 100 (40x: about 0.25), got -1"),
        ("--mpp", "nan", "argument --mpp: a finite number, got nan"),
        ("--threshold", "1.5", "argument --threshold: a probability in [0, 1], got 1.5"),
    ):
        result = _run("--input", str(slide), "--output", str(out), option, value)
        assert result.returncode == 2 and result.stderr.strip().endswith(f"python -m algorithm: error: {message}")
        assert "Traceback" not in result.stderr
    cohort = _run("cohort", "--input", str(tmp_path), "--output", str(out), "--mpp", "0")
    assert cohort.returncode == 2 and "argument --mpp: microns per pixel between 0.01 and 100" in cohort.stderr
    assert not out.exists()
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    for command in ([], ["cohort"]):
        result = _run(*command, "--input", str(slide), "--output", str(taken))
        assert result.returncode == 2 and result.stderr.strip().endswith(
            f"argument --output: {taken} is a file, not a folder"
        )
    under = taken / "out"  # a folder that cannot be made: refused before the job, not after it
    for command in ([], ["cohort"]):
        result = _run(*command, "--input", str(slide), "--output", str(under))
        assert result.returncode == 2 and result.stderr.strip().endswith(
            f"argument --output: {under} cannot be made: {taken} is a file, not a folder"
        )
    assert taken.read_text() == "not a folder"


def test_files_the_system_will_not_let_it_read_or_write_are_one_line_naming_them(tmp_path: Path) -> None:
    """Permissions as a user meets them (root's override dropped where the tests run as root): each refusal one
    line naming the file, exit 1, nothing written; the job is never started for a picture it could not save."""
    slide = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(600, 400), mpp=0.25, tile=128, compression="jpeg")
    hidden = unreadable(write_pyramid_tiff(tmp_path / "hidden.tiff", blob_image(600, 400), mpp=0.25, tile=128))
    gc_input = tmp_path / "input"
    gc_input.mkdir()
    (gc_input / "inputs.json").write_text("[]")
    unreadable(gc_input / "inputs.json")
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(REPO / "models" / "detector.pt", models / "detector.pt")
    unreadable(models / "detector.pt")
    locked = locked_folder(tmp_path / "locked")
    out = tmp_path / "out"
    for args, line in (
        (["--input", str(hidden)], f"error: {hidden}: cannot be read: permission denied"),
        (["--input", str(gc_input)], f"error: {gc_input / 'inputs.json'}: permission denied"),
        (
            ["--input", str(slide), "--model-dir", str(models)],
            f"error: {models / 'detector.pt'}: cannot be read: permission denied",
        ),
        (
            ["--input", str(slide), "--qc", str(locked / "qc.png")],
            f"error: --qc {locked / 'qc.png'}: no permission to write in {locked}",
        ),
    ):
        result = run_python("-m", "algorithm", *args, "--output", str(out), "--device", "cpu")
        assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == line, result.stderr
        assert not out.exists()
    inspected = run_python("-m", "algorithm", "--inspect", str(hidden))
    assert (
        inspected.returncode == 1 and inspected.stderr.strip() == f"error: {hidden}: cannot be read: permission denied"
    )


def test_an_output_place_it_may_not_write_is_refused_before_the_job(tmp_path: Path) -> None:
    """A read-only folder the heatmap goes into, inside a writable output folder: refused in a second, not after
    the slide (and named, not the hidden temporary file the write would have made)."""
    slide = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(600, 400), mpp=0.25, tile=128, compression="jpeg")
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    locked = locked_folder(out / "images" / "tumour-heatmap")
    result = run_python("-m", "algorithm", "--input", str(slide), "--output", str(out), "--task", "help")
    line = f"error: {locked / 'heatmap.mha'}: cannot be written: no permission to write in {locked}"
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == line, result.stderr
    assert "tissue mask" not in result.stderr  # the job never started
    assert sorted(p.name for p in out.rglob("*")) == ["images", "tumour-heatmap"]


def test_a_picture_the_system_refuses_takes_the_jobs_outputs_with_it(tmp_path: Path) -> None:
    """--qc is written last; when the system refuses it (here a file-size limit, as a full disk would), the
    command fails and leaves nothing: not the outputs, not the folder it made for them."""
    slide = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(1200, 800), mpp=0.25, tile=128, compression="jpeg")
    out, picture = tmp_path / "out", tmp_path / "qc.png"
    result = run_limited(
        200_000, "-m", "algorithm", "--input", str(slide), "--output", str(out), "--device", "cpu", "--qc", str(picture)
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {picture}: cannot be written: file too large"
    assert "1 output written" in result.stderr  # the outputs were written, then taken back
    assert not out.exists() and not picture.exists()


def test_a_failed_job_leaves_no_outputs_not_even_a_previous_runs(tmp_path: Path) -> None:
    """A job that fails on a second slide removes the first run's outputs at its paths: left, they would pass
    for the second slide's."""
    good = write_pyramid_tiff(tmp_path / "good.tiff", blob_image(600, 400), mpp=0.25, tile=128, compression="jpeg")
    bad = tmp_path / "bad.tiff"
    bad.write_bytes(good.read_bytes()[:3000])  # truncated
    out = tmp_path / "out"
    assert _run("--input", str(good), "--output", str(out), "--device", "cpu").returncode == 0
    (out / "notes.txt").write_text("the user's own file")
    assert (out / "mitotic-figures.json").is_file()
    failed = _run("--input", str(bad), "--output", str(out), "--device", "cpu")
    assert failed.returncode == 1 and str(bad) in failed.stderr.strip().splitlines()[-1]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_sigterm_stops_a_job_with_one_line_also_as_a_containers_pid_1(tmp_path: Path) -> None:
    """docker stop's SIGTERM: one line, exit 143. As PID 1 (the container's python, where running as root lets
    ``unshare`` make it so) a signal without a handler is not even delivered: the job ran on to SIGKILL."""
    slide = write_pyramid_tiff(tmp_path / "s.tiff", blob_image(600, 400), mpp=0.25, tile=128)
    task_file = tmp_path / "task.json"
    os.mkfifo(task_file)  # the job blocks reading it: a fixed point to stop it at
    command = [sys.executable, "-m", "algorithm", "--input", str(slide), "--output", str(tmp_path / "out")]
    command += ["--task-file", str(task_file)]
    as_pid_1 = os.geteuid() == 0 and shutil.which("unshare") is not None
    if as_pid_1:
        command = ["unshare", "--pid", "--fork", "--mount-proc", *command]
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:  # a writer may open the pipe once the job has it open for reading
        try:
            writer = os.open(task_file, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            assert exc.errno == errno.ENXIO and process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
    try:
        job = (
            int(Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()[0])
            if as_pid_1
            else process.pid
        )
        if as_pid_1:
            ids = next(
                line for line in Path(f"/proc/{job}/status").read_text().splitlines() if line.startswith("NSpid:")
            )
            assert ids.split()[-1] == "1"  # PID 1 in its namespace
        os.kill(job, signal.SIGTERM)
        status = process.wait(timeout=30)
    finally:
        os.close(writer)
        if process.poll() is None:
            process.kill()
    assert process.stderr is not None
    assert status == 143 and process.stderr.read().strip().splitlines()[-1] == "error: terminated (SIGTERM)"
    assert not (tmp_path / "out").exists()
