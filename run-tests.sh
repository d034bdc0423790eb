#!/usr/bin/env bash
# Set up the development environment (.venv) if needed and run the test suite with pytest.
#
# Usage:
#   ./run-tests.sh                   all tests
#   ./run-tests.sh tests/algorithm   a part: any argument but --help goes to pytest (-q -ra, -k NAME, -x ...)
#   ./run-tests.sh --help            this text, and nothing set up (pytest's own options:
#                                    .venv/bin/python -m pytest --help)
#
# First, when needed, it creates .venv with $PYTHON (default python3) and installs requirements.txt,
# requirements-dev.txt and requirements-nodeps.txt into it, again whenever they change (torch is large:
# a few minutes the first time). Exit status: pytest's, and 1 when pytest collected no tests.
set -euo pipefail
for arg in "$@"; do
    case "$arg" in
        --) break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    esac
done
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt requirements-nodeps.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing requirements into .venv (torch is large: a few minutes the first time)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt -r requirements-dev.txt
  .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
  echo "$want" > "$stamp"
fi

status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
