#!/usr/bin/env bash
# Tag a multi-stage image's install stage, from the cache its build just made (seconds).
#
# Usage:
#   docker/tag-stage.sh STAGE TAG DOCKER_BUILD_ARGS...
#
# DOCKER_BUILD_ARGS are the build's own (`build ... --tag TAG ... CONTEXT`); the stage is built
# with them, --target STAGE and TAG-STAGE in place of TAG (TAG:STAGE for a name without a tag).
# An untagged stage is what `docker image prune` (.ci/docker-tidy.sh) removes, and with it the
# install step's cache: build.sh (its venv, several GB) and evaluation/build.sh call this.
# Prints the stage's tag; exit status docker build's (its output only on failure, on stderr).
# Environment: DOCKER (default docker).
set -euo pipefail

[[ $# -ge 3 ]] || { echo "usage: docker/tag-stage.sh STAGE TAG DOCKER_BUILD_ARGS..." >&2; exit 2; }
stage="$1" tag="$2"
shift 2
if [[ "$tag" == *:* && "${tag##*:}" != */* ]]; then stage_tag="$tag-$stage"; else stage_tag="$tag:$stage"; fi
args=("$@")
for i in "${!args[@]}"; do [[ "${args[$i]}" != "$tag" ]] || args[$i]="$stage_tag"; done
args=("${args[0]}" --target "$stage" "${args[@]:1}")  # after `build`
if ! log="$("${DOCKER:-docker}" "${args[@]}" 2>&1)"; then
    tail -n 3 <<<"$log" >&2
    exit 1
fi
echo "$stage_tag"
