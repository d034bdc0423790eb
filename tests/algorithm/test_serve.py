"""The invoke API: the real server (``python -m algorithm`` in invoke mode, and in-process) on the
container's own test case, its slide-level case and its corrupt slide, against exec-mode runs."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from algorithm.errors import ConfigError
from algorithm.interface.tasks import HELP, MIDOG
from algorithm.job import BUNDLED_MODELS, JobOptions
from algorithm.serve import API_METHOD_ENV, PORT_ENV, InvokeServer, api_method, port_from_env, serve
from tests.conftest import REPO

TEST = REPO / "test"
CASES = {
    "test-case": TEST / "input",
    "slide-level": TEST / "slide-level" / "input",
    "corrupt": TEST / "edge-cases" / "corrupt-slide" / "input",
}


def _request(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 300) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _load(case: str, input_dir: Path, output_dir: Path) -> None:
    """What the runtime does between jobs: /input refilled, /output emptied."""
    for folder in (input_dir, output_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    shutil.copytree(CASES[case], input_dir, dirs_exist_ok=True)


@pytest.fixture(scope="module")
def exec_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The exec-mode outputs of the test case and the slide-level case (``python -m algorithm``, once each)."""
    root = tmp_path_factory.mktemp("exec")
    found = {}
    for case, task in (("test-case", "midog"), ("slide-level", "help")):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "algorithm",
                "--input",
                str(CASES[case]),
                "--output",
                str(root / case),
                "--task",
                task,
                "--device",
                "cpu",
                "--model-dir",
                str(BUNDLED_MODELS),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        found[case] = _files(root / case)
    return found


def test_invoke_mode_serves_jobs_as_exec_mode_runs_them(tmp_path: Path, exec_outputs: dict) -> None:
    input_dir, output_dir = tmp_path / "input", tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()
    env = {**os.environ, API_METHOD_ENV: "invoke", PORT_ENV: "0"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "algorithm",
            "--input",
            str(input_dir),
            "--output",
            str(output_dir),
            "--task",
            "midog,help",
            "--device",
            "cpu",
            "--model-dir",
            str(BUNDLED_MODELS),
        ],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    stderr = server.stderr
    assert stderr is not None
    reader = threading.Thread(target=lambda: log.extend(iter(stderr.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        port = None
        while port is None and time.monotonic() < deadline and server.poll() is None:
            port = next(
                (
                    int(m.group(1))
                    for line in list(log)
                    if (m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line))
                ),
                None,
            )
            time.sleep(0.05)
        assert port, "".join(log)
        statuses = []
        while time.monotonic() < deadline:
            status, body = _request(port, "GET", "/health")
            statuses.append(status)
            if status == 200:
                break
            assert status == 503 and body["status"] == "loading"
            time.sleep(0.05)
        assert statuses[-1] == 200, "".join(log)
        assert body["tasks"] == ["midog", "help"] and body["runtime"].startswith("algorithm ")

        answers = {}
        for name, case in (
            ("first", "test-case"),
            ("slide-level", "slide-level"),
            ("corrupt", "corrupt"),
            ("again", "test-case"),
        ):
            _load(case, input_dir, output_dir)
            answers[name] = _request(port, "POST", "/invoke", body=b'{"pk": "job"}')
            if case != "corrupt":
                assert answers[name][0] == 201, answers[name]
                assert _files(output_dir) == exec_outputs[case], name  # byte for byte
            else:
                assert _files(output_dir) == {}
                assert _request(port, "GET", "/health")[0] == 200  # still healthy
        assert answers["first"][1]["task"] == "midog" and answers["slide-level"][1]["task"] == "help"
        assert answers["slide-level"][1]["outputs"] == sorted(exec_outputs["slide-level"])
        status, body = answers["corrupt"]
        assert status == 422 and body["status"] == "failed"
        assert re.fullmatch(r"error: .*case-007100\.tif.*", body["error"]) and "\n" not in body["error"]
        # SIGTERM while a job runs (docker stop): the job finishes, writes its outputs whole and is answered
        _load("test-case", input_dir, output_dir)
        last: list[tuple[int, dict]] = []
        client = threading.Thread(target=lambda: last.append(_request(port, "POST", "/invoke", body=b"{}")))
        client.start()
        while not any("invoke 5: job from" in line for line in list(log)) and time.monotonic() < deadline:
            time.sleep(0.01)
        server.send_signal(signal.SIGTERM)
        client.join(timeout=120)
        assert last and last[0][0] == 201, last
        assert _files(output_dir) == exec_outputs["test-case"]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        reader.join(timeout=10)
    text = "".join(log)
    assert [line for line in text.splitlines() if line.startswith("error: ")] == [body["error"]]
    assert "Traceback" not in text and "invoke: stopping after 5 jobs" in text


@pytest.fixture()
def server(tmp_path: Path):
    """An in-process server on a free port, models not loaded yet."""
    instance = InvokeServer(
        ("127.0.0.1", 0),
        JobOptions(
            input=tmp_path / "input", output=tmp_path / "output", task=MIDOG, device="cpu", model_dir=BUNDLED_MODELS
        ),
        (MIDOG,),
        log=lambda _: None,
    )
    thread = threading.Thread(target=instance.serve_forever, daemon=True)
    thread.start()
    yield instance
    instance.shutdown()
    instance.server_close()


def test_health_and_invoke_wait_for_the_models(server: InvokeServer) -> None:
    assert _request(server.port, "GET", "/health") == (503, {"status": "loading", "message": "loading the models"})
    status, body = _request(server.port, "POST", "/invoke")
    assert status == 503 and body["status"] == "loading"
    server.load()
    status, body = _request(server.port, "GET", "/health")
    assert status == 200 and body["status"] == "ready" and body["busy"] is False


def test_a_second_job_while_one_runs_is_told_busy(server: InvokeServer) -> None:
    server.load()
    with server.busy:  # a job holds the server
        status, body = _request(server.port, "POST", "/invoke")
        assert (status, body["status"]) == (503, "busy")
        assert _request(server.port, "GET", "/health")[1]["busy"] is True
    assert server.jobs == 0  # the refused call ran nothing


def test_a_failed_job_is_answered_and_the_server_stays_up(server: InvokeServer, tmp_path: Path) -> None:
    server.load()
    status, body = _request(server.port, "POST", "/invoke")  # /input does not exist
    assert status == 422 and body["error"] == f"error: {tmp_path / 'input'}: input not found"
    assert not (tmp_path / "output").exists()
    assert _request(server.port, "GET", "/health")[0] == 200


def test_a_stopping_server_starts_no_job(server: InvokeServer) -> None:
    """After SIGTERM/SIGINT (``serve`` sets ``stopping``) /invoke is refused, /health still answers."""
    server.load()
    server.stopping = True
    status, body = _request(server.port, "POST", "/invoke")
    assert status == 503 and body["status"] == "stopping" and server.jobs == 0
    assert _request(server.port, "GET", "/health")[0] == 200


def test_other_paths_and_methods(server: InvokeServer) -> None:
    assert _request(server.port, "GET", "/nope")[0] == 404
    assert _request(server.port, "GET", "/invoke")[0] == 405
    assert _request(server.port, "POST", "/health")[0] == 405


def test_serve_stops_when_asked(tmp_path: Path) -> None:
    stop = threading.Event()
    lines: list[str] = []
    options = JobOptions(input=tmp_path, output=tmp_path / "out", task=HELP, device="cpu", model_dir=BUNDLED_MODELS)
    worker = threading.Thread(
        target=lambda: lines.append(str(serve(options, (HELP,), port=0, log=lines.append, stop=stop)))
    )
    worker.start()
    deadline = time.monotonic() + 120
    while not any(line.startswith("invoke: ready") for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=30)
    assert lines[-1] == "0" and lines[-2] == "invoke: stopping after 0 jobs"


def test_models_that_cannot_load_end_the_server_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "algorithm",
            "--api-method",
            "invoke",
            "--port",
            "0",
            "--model-dir",
            str(tmp_path / "nowhere"),
            "--device",
            "cpu",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {tmp_path / 'nowhere'}: model folder not found"]
    assert "Traceback" not in result.stderr


def test_api_method_and_port_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_METHOD_ENV, raising=False)
    monkeypatch.delenv(PORT_ENV, raising=False)
    assert api_method() == "exec" and port_from_env() == 4743
    monkeypatch.setenv(API_METHOD_ENV, "Invoke")
    monkeypatch.setenv(PORT_ENV, "8123")
    assert api_method() == "invoke" and port_from_env() == 8123
    assert api_method("exec") == "exec"  # the command line wins
    monkeypatch.setenv(API_METHOD_ENV, "batch")
    with pytest.raises(ConfigError, match="GRAND_CHALLENGE_COMPONENT_API_METHOD must be exec or invoke"):
        api_method()
    monkeypatch.setenv(PORT_ENV, "http")
    with pytest.raises(ConfigError, match="must be a port number"):
        port_from_env()


def test_a_taken_port_is_one_clear_error(server: InvokeServer) -> None:
    with pytest.raises(ConfigError, match=rf"cannot listen on 127\.0\.0\.1:{server.port}"):
        InvokeServer(("127.0.0.1", server.port), server.options, server.tasks)
