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
[[ -f "$model_dir/nuclei.pt" ]] || die "no nuclei.pt in $model_dir"
[[ -f "$here/input/inputs.json" ]] || die "no test/nuclei/input (make it: $python test/nuclei/make_input.py)"

work="$(mktemp -d "${TMPDIR:-/tmp}/nuclei-expected.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$repo" && "$python" -m algorithm --task nuclei --input "$here/input" --output "$work/output" \
    --model-dir "$model_dir" --device cpu)
rm -rf "$here/expected_output"
mv "$work/output" "$here/expected_output"
(cd "$model_dir" && sha256sum nuclei.pt) >"$here/model.sha256"
echo "make_expected.sh: wrote test/nuclei/expected_output with $model_dir/nuclei.pt (test/nuclei/model.sha256)"
