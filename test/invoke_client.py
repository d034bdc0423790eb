#!/usr/bin/env python3
"""What grand-challenge's runtime does in invoke mode, for ``test.sh``: poll /health, POST /invoke.

    python3 invoke_client.py health [--wait SECONDS]
    python3 invoke_client.py invoke [--timeout SECONDS]

Talks to ``http://127.0.0.1:$GRAND_CHALLENGE_COMPONENT_USER_WEBSERVER_PORT`` (4743 unless
set). ``test.sh`` runs it inside the algorithm container (``docker exec -i NAME python -
ARGS < invoke_client.py``), so the container keeps ``--network none`` and only its own
loopback reaches the server, as on the platform where the runtime shares the container.

- ``health``: polls GET /health every 0.2 s until it answers 200 (exit 0) or ``--wait``
  (default 300) seconds pass (exit 1); prints ``status=CODE waited=SECONDS non200=N body=...``
  where N counts the answers before the 200 (503 while the models load) and refused connections
  are not counted.
- ``invoke``: one POST /invoke (a JSON body like the runtime's; the server ignores it); prints
  ``status=CODE seconds=S body=...``, S from sending the request to the whole answer read.
  Exit 0 whatever the status (the caller judges it), 2 when no answer came.
Standard library only, any python3 >= 3.8.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time

HOST = "127.0.0.1"


def _port() -> int:
    return int(os.environ.get("GRAND_CHALLENGE_COMPONENT_USER_WEBSERVER_PORT") or 4743)


def _request(method: str, path: str, body: bytes | None, timeout: float) -> tuple[int, str]:
    connection = http.client.HTTPConnection(HOST, _port(), timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace").strip()
    finally:
        connection.close()


def health(wait: float) -> int:
    started = time.monotonic()
    not_ready = 0
    status, text = 0, "no answer"
    while time.monotonic() - started < wait:
        try:
            status, text = _request("GET", "/health", None, timeout=10)
        except OSError as exc:  # not listening yet
            status, text = 0, f"no answer ({exc})"
        if status == 200:
            break
        if status:
            not_ready += 1
        time.sleep(0.2)
    print(f"status={status} waited={time.monotonic() - started:.1f} non200={not_ready} body={text}")
    return 0 if status == 200 else 1


def invoke(timeout: float) -> int:
    body = json.dumps(
        {"pk": f"test-{os.getpid()}", "inputs": [], "output_bucket_name": "local", "output_prefix": "test/"}
    ).encode()
    started = time.perf_counter()
    try:
        status, text = _request("POST", "/invoke", body, timeout=timeout)
    except OSError as exc:
        print(f"status=0 seconds={time.perf_counter() - started:.3f} body=no answer ({exc})")
        return 2
    print(f"status={status} seconds={time.perf_counter() - started:.3f} body={text}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("health").add_argument("--wait", type=float, default=300.0)
    sub.add_parser("invoke").add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    return health(args.wait) if args.command == "health" else invoke(args.timeout)


if __name__ == "__main__":
    sys.exit(main())
