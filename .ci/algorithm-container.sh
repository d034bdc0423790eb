#!/usr/bin/env bash
# CI: build, test and export the algorithm container on a local Docker engine.
#
# Usage:
#   .ci/algorithm-container.sh            (from anywhere; root, no stdin needed)
#
# On a clean clone (called from .ci/run):
#   1. .ci/docker-engine.sh                           a running engine
#   2. docker/base-image.sh kit-base:bookworm         the base image (no registry here)
#   3. docker/wheelhouse.sh requirements.txt --dest build/wheelhouse/algorithm
#                                                     the wheels, downloaded on the host
#   4. ./build.sh (kit-base:bookworm, that wheelhouse, --offline 1, tag kit-algorithm:ci)
#   5. ./test.sh                                      as grand-challenge runs it: the test case
#                                                     and the failure cases
#   6. ./export.sh                                    export/algorithm.tar.gz, export/model.tar.gz
#   7. both archives exist, are gzip, and the model's holds the three models at the top level
# Prints each step's time, and a summary at the end.
#
# Environment: KIT_MODEL_DIR=DIR tests and exports with DIR's models
# (mounted at /opt/ml/model) instead of the bundled models/; ALGORITHM_IMAGE
# (default kit-algorithm:ci).
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${ALGORITHM_IMAGE:-kit-algorithm:ci}"
model_args=()
[[ -z "${KIT_MODEL_DIR:-}" ]] || model_args=(--model-dir "$KIT_MODEL_DIR")

timings=()
step() {  # step NAME COMMAND...: run it, time it
    local name="$1" start=$SECONDS
    shift
    echo "--- algorithm container: $name"
    "$@"
    timings+=("$(printf '%-12s %5ds' "$name" $((SECONDS - start)))")
}
summary() {
    local t
    echo "--- algorithm container: step times"
    for t in "${timings[@]}"; do echo "  $t"; done
}
trap summary EXIT

check_archives() {
    local f
    # export.sh renames an archive into place only after `docker save | gzip` succeeded,
    # so the image archive gets a header check (gzip -t of 3 GB takes a minute); the model's is tested whole.
    for f in export/algorithm.tar.gz export/model.tar.gz; do
        [[ -s "$f" ]] || { echo "FAIL: $f is missing or empty" >&2; return 1; }
        [[ "$(head -c 2 "$f" | od -An -tx1 | tr -d ' ')" == 1f8b ]] || { echo "FAIL: $f is not gzip" >&2; return 1; }
        echo "PASS: $f ($(du -h "$f" | cut -f1))"
    done
    gzip -t export/model.tar.gz || { echo "FAIL: export/model.tar.gz is not a valid gzip file" >&2; return 1; }
    local listing
    listing="$(tar -tzf export/model.tar.gz)"
    local m
    for m in detector.pt segmenter.pt slide_model.joblib; do
        grep -qx "$m" <<<"$listing" \
            || { echo "FAIL: export/model.tar.gz has no top-level $m (it holds: ${listing//$'\n'/ })" >&2; return 1; }
    done
    echo "PASS: export/model.tar.gz holds detector.pt, segmenter.pt and slide_model.joblib at the top level"
}

total=$SECONDS
step engine .ci/docker-engine.sh
step base docker/base-image.sh kit-base:bookworm
step wheelhouse docker/wheelhouse.sh requirements.txt --dest build/wheelhouse/algorithm
step build ./build.sh --base-image kit-base:bookworm --wheelhouse build/wheelhouse/algorithm --offline 1 --tag "$tag"
step test ./test.sh --tag "$tag" "${model_args[@]}"
# GZIP_LEVEL=1: CI only checks the export; about a third faster than the default 6.
step export env GZIP_LEVEL="${GZIP_LEVEL:-1}" ./export.sh --tag "$tag" "${model_args[@]}"
step archives check_archives
timings+=("$(printf '%-12s %5ds' total $((SECONDS - total)))")
