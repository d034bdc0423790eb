"""Ray for a cohort: a local cluster (the default) or an existing one (``--address``), workers as actors.

Ray is a host-side dependency (not in the container image) and is imported here only.
Each worker is an actor holding one :class:`~algorithm.cohort.worker.SlideWorker` (models
loaded once) with its CPUs and GPUs reserved as Ray resources; the slide list is handed
out one slide at a time to whichever worker is free, so slow slides do not hold others up.
A worker that dies (a crash, not a failed slide) fails its slide and is replaced.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import algorithm
from algorithm.cohort.record import FAILED, SlideRow
from algorithm.cohort.slides import CohortSlide
from algorithm.cohort.worker import SlideWorker, WorkerSettings
from algorithm.device import available_cpus
from algorithm.errors import ConfigError, KitError
from algorithm.threads import wait_environment

RAY_PIN = "ray==2.60.0"  # requirements-dev.txt's
DEFAULT_WORKERS = 2  # without GPUs, unless --workers says
KIT_ROOT = Path(algorithm.__file__).resolve().parent.parent
START_TIMEOUT_S = 300  # a worker's start and model load; longer means the cluster cannot place it
WAIT_S = 0.5  # how often the driver looks up from waiting (Ctrl-C, the progress bar's clock)


@dataclass(frozen=True)
class ClusterOptions:
    """Which Ray cluster, how many workers and what each reserves."""

    address: str | None = None  # None: start a local cluster for this run
    workers: int | None = None  # None: one per GPU of the cluster, else DEFAULT_WORKERS
    cpus_per_worker: float = 1.0
    gpus_per_worker: float | None = None  # None: 1 when the cluster has GPUs, else 0
    object_store_mb: int = 256  # a local cluster's object store (rows are small)

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"--cpus-per-worker must be above 0, got {self.cpus_per_worker}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise ConfigError(f"--gpus-per-worker must be 0 or more, got {self.gpus_per_worker}")


def import_ray() -> ModuleType:
    """Ray, set to report nothing home; KitError saying how to install it when it is missing."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DISABLE_DOCKER_CPU_WARNING", "1")
    try:
        import ray
    except ImportError as exc:
        raise KitError(f"the cohort command needs Ray on the host: pip install '{RAY_PIN}' ({exc})") from exc
    return ray


def _token_auth_like_ray_start() -> None:
    """Send this machine's Ray token when joining a cluster, as ``ray start`` does when it finds one.

    ``ray start --head`` turns token authentication on when a token exists (``~/.ray/auth_token``,
    or RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH); a driver joining it does not, unless RAY_AUTH_MODE says.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    if {"RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"} & set(os.environ) or (Path.home() / ".ray" / "auth_token").is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


def _pythonpath() -> str:
    """Workers import the kit from where this process does (a cluster's nodes must see the same path)."""
    parts = [str(KIT_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return os.pathsep.join(dict.fromkeys(parts))


class RayPool:
    """A Ray connection and its cohort workers; a context manager that stops them all on the way out."""

    def __init__(self, settings: WorkerSettings, options: ClusterOptions) -> None:
        self.settings = settings
        self.options = options
        if options.address is not None:
            _token_auth_like_ray_start()  # before Ray is imported: it reads the mode once
        self.ray = import_ray()
        self.actors: list[Any] = []
        self.names: list[str] = []
        self.lines: list[str] = []
        self.gpus_per_worker = 0.0
        self._actor_class: Any = None

    def __enter__(self) -> RayPool:
        try:
            self.connect()
            self.start()
        except BaseException:  # Ctrl-C inside ray.init too: its half-started node's processes are stopped
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def connect(self) -> None:
        """Join ``--address``'s cluster or start a local one (no dashboard, nothing reaching the network)."""
        ray, o = self.ray, self.options
        common: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,  # not its notes on token authentication and the like
            # the workers' torch threads wait as the single job's do (algorithm/threads.py)
            "runtime_env": {"env_vars": {"PYTHONPATH": _pythonpath(), **wait_environment()}},
        }
        ours = signal.getsignal(signal.SIGTERM)  # the command's (algorithm.console): Ray's core replaces it
        try:
            if o.address is None:
                # --workers: exactly their CPUs (so a test's cluster stays small); else this machine's, or enough
                needed = math.ceil((o.workers or DEFAULT_WORKERS) * o.cpus_per_worker)
                cpus = needed if o.workers else max(needed, available_cpus())
                ray.init(address="local", num_cpus=cpus, object_store_memory=o.object_store_mb * 2**20, **common)
            else:
                ray.init(address=o.address, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {o.address}" if o.address else "a local Ray cluster"
            raise KitError(f"cannot start or join {where}: {exc}") from exc
        finally:
            if callable(ours) and threading.current_thread() is threading.main_thread():
                # Ray's own handler prints native stack dumps and exits, skipping the run's tables
                signal.signal(signal.SIGTERM, ours)

    def where(self) -> str:
        """The cluster in words, for the summary."""
        resources = self.ray.cluster_resources()
        kind = f"Ray cluster at {self.options.address}" if self.options.address else "local Ray"
        return f"{kind} ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs)"

    def start(self) -> None:
        """Start the workers and wait until each has its models (the first error stops the run)."""
        o = self.options
        gpus = float(self.ray.cluster_resources().get("GPU", 0))
        self.gpus_per_worker = o.gpus_per_worker if o.gpus_per_worker is not None else (1.0 if gpus >= 1 else 0.0)
        workers = o.workers
        if workers is None:
            workers = max(1, int(gpus // self.gpus_per_worker)) if self.gpus_per_worker > 0 else DEFAULT_WORKERS
        self._actor_class = self.ray.remote(SlideWorker).options(
            num_cpus=o.cpus_per_worker, num_gpus=self.gpus_per_worker, max_restarts=0
        )
        self.actors = [self._actor_class.remote(self.settings) for _ in range(workers)]
        for actor in self.actors:
            self._check(actor)

    def _check(self, actor: Any) -> None:
        try:
            name, line, problem = self.ray.get(actor.ready.remote(), timeout=START_TIMEOUT_S)
        except self.ray.exceptions.GetTimeoutError as exc:
            raise KitError(
                f"a cohort worker did not start within {START_TIMEOUT_S} s: does the cluster have "
                f"{self.options.cpus_per_worker:g} CPUs and {self.gpus_per_worker:g} GPUs free per worker?"
            ) from exc
        except self.ray.exceptions.RayError as exc:
            raise KitError(f"a cohort worker failed to start: {str(exc).strip().splitlines()[-1]}") from exc
        if problem:
            raise KitError(problem)
        self.names.append(name)
        self.lines.append(f"{name}: {line}")

    def run(
        self,
        slides: Iterable[CohortSlide],
        on_row: Callable[[SlideRow], None],
        on_wait: Callable[[], None] = lambda: None,
    ) -> None:
        """Every slide through a free worker; ``on_row`` with each row as it comes back (completion order),
        ``on_wait`` every :data:`WAIT_S` seconds without one."""
        ray = self.ray
        waiting = deque(slides)
        running: dict[Any, tuple[Any, CohortSlide]] = {}

        def give(actor: Any) -> None:
            if waiting:
                slide = waiting.popleft()
                running[actor.process.remote(slide)] = (actor, slide)

        for actor in self.actors:
            give(actor)
        while running:
            done, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)
            if not done:
                on_wait()
                continue
            actor, slide = running.pop(done[0])
            try:
                row = ray.get(done[0])
            except ray.exceptions.RayActorError as exc:  # the worker itself died: fail this slide, replace it
                row = SlideRow(slide=str(slide.path), job=slide.job, status=FAILED, error=_died(exc))
                self.actors.remove(actor)
                actor = self._actor_class.remote(self.settings)
                self._check(actor)
                self.actors.append(actor)
            on_row(row)
            give(actor)

    def stop(self) -> None:
        """Kill the workers and leave the cluster (a local one stops with it)."""
        if self.ray.is_initialized():
            for actor in self.actors:
                with contextlib.suppress(Exception):  # already gone: nothing to stop
                    self.ray.kill(actor, no_restart=True)
        self.actors = []
        # also when ray.init was interrupted before it connected: the processes of the node it had started
        # (raylet, agents) otherwise outlived the run by a minute
        self.ray.shutdown()


def _died(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"the worker died while running this slide ({lines[0] if lines else type(exc).__name__})"
