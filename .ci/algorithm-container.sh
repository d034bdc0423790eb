#!/usr/bin/env bash
# CI: build, test and export the algorithm container on a local Docker engine, for both
# CUDA builds of torch.
#
# Usage:
#   .ci/algorithm-container.sh            (from anywhere; root, no stdin needed)
#
# On a clean clone (called from .ci/run):
#   1. .ci/docker-engine.sh                           a running engine
#   2. docker/base-image.sh kit-base:bookworm         the base image (no registry here)
#   3. the default image, --cuda 12 (torch 2.10.0, CUDA 12.8), tag kit-algorithm:ci:
#      ./build.sh --cuda 12 --make-wheelhouse ...     its wheels downloaded on the host
#                                                     (build/wheelhouse/algorithm-cuda12), then
#                                                     built from them (kit-base:bookworm, --offline 1)
#      ./test.sh --own-python .venv/bin/python        every check: as grand-challenge runs it (exec),
#                                                     the failure cases, the slide level, own networks
#                                                     (also exported with the host's torch), invoke mode
#      ./export.sh                                    export/algorithm.tar.gz, export/model.tar.gz;
#                                                     both exist, are gzip, the model's holds the four
#                                                     models at the top level
#      (the wheelhouse is deleted once the image is built, the checked archive once checked,
#      and the image the new build untagged: the disk is not large)
#   4. the other image, --cuda 13 (torch 2.14.1, CUDA 13.0), tag kit-algorithm:ci-cuda13: built
#      the same way, ./test.sh --quick (start-up line, non-root, the CPU test case): it shares
#      everything but torch with the first
# Prints each step's time, and a summary at the end.
#
# Environment: KIT_MODEL_DIR=DIR tests and exports with DIR's models
# (mounted at /opt/ml/model) instead of the bundled models/; ALGORITHM_IMAGE
# (default kit-algorithm:ci; the CUDA 13 image gets -cuda13 appended); KIT_CI_CUDA13=0 skips
# the CUDA 13 image.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${ALGORITHM_IMAGE:-kit-algorithm:ci}"
tag13="$tag-cuda13"
base=(--base-image kit-base:bookworm --offline 1)
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
    for m in detector.pt segmenter.pt slide_model.joblib nuclei.pt; do
        grep -qx "$m" <<<"$listing" \
            || { echo "FAIL: export/model.tar.gz has no top-level $m (it holds: ${listing//$'\n'/ })" >&2; return 1; }
    done
    echo "PASS: export/model.tar.gz holds detector.pt, segmenter.pt, slide_model.joblib and nuclei.pt at the top level"
    ! grep -Eq '\.(png|md|sh)$' <<<"$listing" \
        || { echo "FAIL: export/model.tar.gz holds pictures, documents or scripts: ${listing//$'\n'/ }" >&2; return 1; }
    echo "PASS: export/model.tar.gz holds no pictures, documents or scripts"
}

total=$SECONDS
step engine .ci/docker-engine.sh
step tidy .ci/docker-tidy.sh
step base docker/base-image.sh kit-base:bookworm
step build-cuda12 ./build.sh --cuda 12 "${base[@]}" --make-wheelhouse --tag "$tag"
rm -rf build/wheelhouse/algorithm-cuda12
step tidy .ci/docker-tidy.sh
# --own-python: the segmenter exported with the development environment's torch (2.14) runs in
# this image's torch (2.10), as a participant's own network from their training environment would
own_python=()
[[ -n "${KIT_MODEL_DIR:-}" || ! -x .venv/bin/python ]] || own_python=(--own-python .venv/bin/python)
step test-cuda12 ./test.sh --tag "$tag" "${model_args[@]}" "${own_python[@]}"
# GZIP_LEVEL=1: CI only checks the export; about a third faster than the default 6.
step export env GZIP_LEVEL="${GZIP_LEVEL:-1}" ./export.sh --tag "$tag" "${model_args[@]}"
step archives check_archives
# The CI machine's disk is shared by two wheelhouses (4 and 3 GB), two images, the
# 4 GB archive and docker save's 7 GB unpacked copy: drop what has been checked before
# the next build needs the room.
rm -rf export/algorithm.tar.gz
if [[ "${KIT_CI_CUDA13:-1}" != 0 ]]; then
    step build-cuda13 ./build.sh --cuda 13 "${base[@]}" --make-wheelhouse --tag "$tag13"
    rm -rf build/wheelhouse/algorithm-cuda13
    step tidy .ci/docker-tidy.sh
    step test-cuda13 ./test.sh --tag "$tag13" --quick "${model_args[@]}"
fi
timings+=("$(printf '%-12s %5ds' total $((SECONDS - total)))")
