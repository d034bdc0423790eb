#!/usr/bin/env bash
# Regenerate test/slide-label/expected_output: what `python -m algorithm --task label` writes for
# test/slide-label/input on this machine's CPU with the bundled models/patch_classifier.pt and
# models/label_model.joblib (or those in DIR).
#
# Usage (from anywhere):
#   test/slide-label/make_expected.sh              # the bundled models
#   test/slide-label/make_expected.sh --model-dir DIR
#
# Rerun it whenever either model changes. test/slide-label/model.sha256 records the models'
# hashes (which models the expected output was made with). The input itself comes from
# test/slide-label/make_input.py (a synthetic slide; deterministic). Environment: PYTHON
# (default: the repository's .venv/bin/python).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
exec "$(dirname "${BASH_SOURCE[0]}")/../make_expected_case.sh" slide-label label patch_classifier.pt label_model.joblib -- "$@"
