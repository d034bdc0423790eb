#!/usr/bin/env bash
# Regenerate test/nuclei/expected_output: what `python -m algorithm --task nuclei` writes for
# test/nuclei/input on this machine's CPU with the bundled models/nuclei.pt (or DIR/nuclei.pt).
#
# Usage (from anywhere):
#   test/nuclei/make_expected.sh              # the bundled model: models/nuclei.pt
#   test/nuclei/make_expected.sh --model-dir DIR
#
# Rerun it whenever models/nuclei.pt changes. test/nuclei/model.sha256 records the model's
# hash; test.sh warns when the image's nuclei.pt is another. The input itself comes from
# test/nuclei/make_input.py (a synthetic ROI; deterministic). Environment: PYTHON (default:
# the repository's .venv/bin/python).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
exec "$(dirname "${BASH_SOURCE[0]}")/../make_expected_case.sh" nuclei nuclei nuclei.pt -- "$@"
