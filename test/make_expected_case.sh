#!/usr/bin/env bash
# Regenerate test/CASE/expected_output: what `python -m algorithm --task TASK` writes for test/CASE/input
# on this machine's CPU with MODEL... from the bundled models/ (or --model-dir DIR), and record their
# hashes in test/CASE/model.sha256. The cases' own make_expected.sh call it (test/nuclei, test/slide-label).
#
# Usage: test/make_expected_case.sh CASE TASK MODEL... -- [--model-dir DIR]
# Environment: PYTHON (default: the repository's .venv/bin/python).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
die() { echo "make_expected.sh: error: $*" >&2; exit 1; }

(($# >= 4)) || die "usage: test/make_expected_case.sh CASE TASK MODEL... -- [--model-dir DIR]"
case_name="$1" task="$2"
shift 2
models=()
while (($#)) && [[ "$1" != -- ]]; do models+=("$1"); shift; done
[[ "${1:-}" == -- ]] && shift
model_dir="$repo/models"
while (($#)); do
    case "$1" in
        --model-dir) [[ $# -ge 2 ]] || die "--model-dir needs a folder"; model_dir="$(cd "$2" && pwd)"; shift 2 ;;
        *) die "unknown argument '$1'" ;;
    esac
done
folder="$here/$case_name"
python="${PYTHON:-$repo/.venv/bin/python}"
for f in "${models[@]}"; do [[ -f "$model_dir/$f" ]] || die "no $f in $model_dir"; done
[[ -f "$folder/input/inputs.json" ]] || die "no test/$case_name/input (make it: $python test/$case_name/make_input.py)"

work="$(mktemp -d "${TMPDIR:-/tmp}/$case_name-expected.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd "$repo" && "$python" -m algorithm --task "$task" --input "$folder/input" --output "$work/output" \
    --model-dir "$model_dir" --device cpu)
rm -rf "$folder/expected_output"
mv "$work/output" "$folder/expected_output"
(cd "$model_dir" && sha256sum "${models[@]}") >"$folder/model.sha256"
echo "make_expected.sh: wrote test/$case_name/expected_output with ${models[*]} from $model_dir (test/$case_name/model.sha256)"
