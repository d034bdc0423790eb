"""grand-challenge's invoke API: start once, load the models once, run a job per ``POST /invoke``.

With ``GRAND_CHALLENGE_COMPONENT_API_METHOD=invoke`` the platform's runtime
(sagemaker-shim) starts the container once, polls ``GET /health`` on
``127.0.0.1:$GRAND_CHALLENGE_COMPONENT_USER_WEBSERVER_PORT`` (4743 unless set)
until it answers 200, then for each job fills ``/input`` and calls ``POST
/invoke``, which must write ``/output`` and answer 201; any other answer fails
the job. Imports, the device and the models (seconds, more on a GPU) are paid
once instead of once per job.

- ``/health``: 503 while the models load, 200 from then on (also while a job
  runs). Models that cannot load end the process with the command line's one
  ``error:`` line and exit status 1, as an exec-mode job would.
- ``/invoke``: exactly an exec-mode job (``job.run_job``: same outputs, same
  atomic writes, nothing written on failure), with the models loaded at start.
  201 and the files written; on failure the job's one ``error:`` line, on
  stderr and in the answer: 422 for an input the kit refuses (a KitError), 500
  for anything else. The server stays up and healthy for the next job.
- One job at a time: a ``POST /invoke`` while another runs gets 503 at once
  ("busy", ``Retry-After``) instead of waiting; the runtime sends one at a time.
- The request body is read and ignored: the job's inputs are in ``/input``.
  ``/output`` is not emptied here (the runtime empties ``/input`` and
  ``/output`` between jobs); a job overwrites its own output files atomically.

Standard library only (``http.server``); it listens on 127.0.0.1 unless told
otherwise (``--host``). SIGTERM or SIGINT stop it (exit 0): from then on ``/invoke``
answers 503 ("stopping"); a job already running finishes, writes its outputs and
gets its answer first (a process leaving while the job's thread ran torch was
killed by the C++ runtime, exit 134, its outputs half-written and no answer sent).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from algorithm.console import error_line
from algorithm.errors import ConfigError, KitError
from algorithm.interface.inputs import choose_task
from algorithm.interface.tasks import Task
from algorithm.job import JobOptions, Runtime, run_job

API_METHOD_ENV = "GRAND_CHALLENGE_COMPONENT_API_METHOD"
PORT_ENV = "GRAND_CHALLENGE_COMPONENT_USER_WEBSERVER_PORT"
DEFAULT_PORT = 4743
API_METHODS = ("exec", "invoke")
_BODY_CHUNK = 1 << 16

Log = Callable[[str], None]

logger = logging.getLogger(__name__)  # the server's and its jobs' lines (INFO); the command line shows them


def api_method(value: str | None = None) -> str:
    """exec or invoke: ``value``, else $GRAND_CHALLENGE_COMPONENT_API_METHOD, else exec."""
    method = (value if value is not None else os.environ.get(API_METHOD_ENV, "")).strip().lower() or "exec"
    if method not in API_METHODS:
        raise ConfigError(
            f"{API_METHOD_ENV if value is None else '--api-method'} must be exec or invoke, not {method!r}"
        )
    return method


def port_from_env() -> int:
    """$GRAND_CHALLENGE_COMPONENT_USER_WEBSERVER_PORT, else 4743."""
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ConfigError(f"{PORT_ENV} must be a port number (0-65535), not {raw!r}")
    return int(raw)


class InvokeServer(ThreadingHTTPServer):
    """The HTTP server and the state it guards: the runtime once loaded, one job at a time."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        options: JobOptions,
        tasks: Sequence[Task],
        log: Log = logger.info,
        debug: bool = False,
    ) -> None:
        self.options = options
        self.tasks = tuple(tasks)
        self.log = log
        self.debug = debug
        self.runtime: Runtime | None = None
        self.jobs = 0
        self.busy = threading.Lock()
        self.stopping = False  # set on SIGTERM/SIGINT: no new job starts
        self.answering = threading.Condition()  # guards ``invokes``: /invoke requests not answered yet
        self.invokes = 0
        try:
            super().__init__(address, InvokeHandler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {address[0]}:{address[1]} ({exc.strerror or exc})") from exc

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose for port 0)."""
        return int(self.server_address[1])

    def load(self) -> None:
        """Open the device and load every task's models (the slow part, once)."""
        self.runtime = Runtime.load(self.tasks, self.options.model_dir, self.options.device, log=self.log)

    def health(self) -> tuple[int, dict[str, Any]]:
        """/health's answer: 503 until the models are loaded, then 200 (busy or not)."""
        if self.runtime is None:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "loading", "message": "loading the models"}
        return HTTPStatus.OK, {
            "status": "ready",
            "busy": self.busy.locked(),
            "jobs": self.jobs,
            "tasks": [task.name for task in self.tasks],
            "runtime": self.runtime.line,
        }

    def invoke(self) -> tuple[int, dict[str, Any]]:
        """Run one job from ``options.input`` to ``options.output``; the answer's status and body."""
        if self.runtime is None:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "loading", "error": "the models are still loading"}
        if self.stopping:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "stopping", "error": "the server is stopping"}
        if not self.busy.acquire(blocking=False):
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "busy", "error": "a job is running; one job at a time"}
        try:
            self.jobs += 1
            number = self.jobs
            started = time.perf_counter()
            self.log(f"invoke {number}: job from {self.options.input} to {self.options.output}")
            try:
                task = choose_task(self.options.input, self.tasks)
                result = run_job(replace(self.options, task=task), log=self.log, runtime=self.runtime)
            except Exception as exc:  # noqa: BLE001 - every failure is this job's, never the server's
                line, _ = error_line(exc)
                if self.debug and not isinstance(exc, MemoryError):
                    traceback.print_exc()
                self.log(line)
                status = (
                    HTTPStatus.UNPROCESSABLE_ENTITY if isinstance(exc, KitError) else HTTPStatus.INTERNAL_SERVER_ERROR
                )
                seconds = time.perf_counter() - started
                self.log(f"invoke {number}: failed ({int(status)}) in {seconds:.1f} s")
                return status, {"status": "failed", "job": number, "error": line, "seconds": round(seconds, 3)}
            seconds = time.perf_counter() - started
            outputs = sorted(path.relative_to(self.options.output).as_posix() for path in result.written)
            self.log(
                f"invoke {number}: {len(outputs)} output{'' if len(outputs) == 1 else 's'} written in {seconds:.1f} s"
            )
            return HTTPStatus.CREATED, {
                "status": "succeeded",
                "job": number,
                "task": task.name,
                "outputs": outputs,
                "seconds": round(seconds, 3),
            }
        finally:
            self.busy.release()


class InvokeHandler(BaseHTTPRequestHandler):
    """One request: routes /health and /invoke to the server, answers JSON."""

    server: InvokeServer
    server_version = "algorithm-invoke"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        """GET /health; GET /invoke is 405, anything else 404."""
        if self.path.split("?")[0] == "/health":
            self._answer(*self.server.health())
        elif self.path.split("?")[0] == "/invoke":
            self._answer(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "POST /invoke runs a job"}, allow="POST")
        else:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no {self.path}: GET /health, POST /invoke"})

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        """POST /invoke; POST /health is 405, anything else 404."""
        self._drain_body()
        if self.path.split("?")[0] == "/invoke":
            with self.server.answering:
                self.server.invokes += 1
            try:
                self._answer(*self.server.invoke())
            finally:
                with self.server.answering:
                    self.server.invokes -= 1
                    self.server.answering.notify_all()
        elif self.path.split("?")[0] == "/health":
            self._answer(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "GET /health"}, allow="GET")
        else:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no {self.path}: GET /health, POST /invoke"})

    def _drain_body(self) -> None:
        """Read (and ignore) the request body, so the client is not cut off mid-send."""
        try:
            remaining = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            remaining = 0
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, _BODY_CHUNK))
            if not chunk:
                break
            remaining -= len(chunk)

    def _answer(self, status: int, body: dict[str, Any], allow: str | None = None) -> None:
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", allow)
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            self.send_header("Retry-After", "5")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        """Requests are logged by the server's own lines (health polls would drown the job's)."""


def serve(
    options: JobOptions,
    tasks: Sequence[Task],
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    log: Log = logger.info,
    debug: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Listen, load the models, answer until SIGTERM/SIGINT (or ``stop`` is set); exit status 0.

    Listens before loading, so /health can say "loading" (503) rather than refuse connections.
    """
    server = InvokeServer((host, port), options, tasks, log=log, debug=debug)
    stop = stop or threading.Event()
    restore = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            restore[signum] = signal.signal(signum, lambda *_: stop.set())
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="invoke-http", daemon=True
    )
    thread.start()
    try:
        log(
            f"invoke: listening on http://{host}:{server.port} (GET /health, POST /invoke); "
            f"tasks {', '.join(task.name for task in tasks)}; loading the models"
        )
        server.load()
        log(
            f"invoke: ready on port {server.port}: each POST /invoke runs a job from {options.input} "
            f"to {options.output}"
        )
        while not stop.wait(0.5):
            pass
        server.stopping = True
        if server.busy.locked():
            log(f"invoke: stopping once job {server.jobs} is done and answered")
        with server.answering:  # the running job finishes, writes its outputs and is answered
            server.answering.wait_for(lambda: server.invokes == 0)
        log(f"invoke: stopping after {server.jobs} job{'' if server.jobs == 1 else 's'}")
        return 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        for signum, handler in restore.items():
            signal.signal(signum, handler)
