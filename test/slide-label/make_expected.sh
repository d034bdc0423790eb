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

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
die() { echo "make_expected.sh: error: $*" >&2; exit 1; }

model_dir="$repo/models"
while (($#)); do
    case "$1" in
        --model-dir) [[ $# -ge 2 ]] || die "--model-dir needs a folder"; model_dir="$(cd "$2" && pwd)"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1'" ;;
    esac
done
python="${PYTHON:-$repo/.venv/bin/python}"
for f in patch_classifier.pt label_model.joblib; do [[ -f "$model_dir/$f" ]] || die "no $f in $model_dir"; done
[[ -f "$here/input/inputs.json" ]] || die "no test/slide-label/input (make it: $python test/slide-label/make_input.py)"

work="$(mktemp -d "${TMPDIR:-/tmp}/slide-label-expected.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$repo" && "$python" -m algorithm --task label --input "$here/input" --output "$work/output" \
    --model-dir "$model_dir" --device cpu)
rm -rf "$here/expected_output"
mv "$work/output" "$here/expected_output"
(cd "$model_dir" && sha256sum patch_classifier.pt label_model.joblib) >"$here/model.sha256"
echo "make_expected.sh: wrote test/slide-label/expected_output with the models in $model_dir (test/slide-label/model.sha256)"
