#!/usr/bin/env bash
# Build the evaluation container image.
#
# Usage:
#   evaluation/build.sh [--tag NAME] [--base-image IMAGE] [--wheelhouse DIR] [--offline auto|1|0] [-- DOCKER_BUILD_ARGS...]
#
#   evaluation/build.sh                                  # python:3.11-slim, packages from PyPI
#   evaluation/build.sh --wheelhouse wheelhouse/evaluation   # offline from local wheels
#   evaluation/build.sh --base-image my/bookworm-python3 --wheelhouse DIR --offline 1
#
# The build context is assembled in a temporary folder: the Dockerfile,
# requirements.txt, the package's *.py files (not test/) and wheelhouse/ with
# the *.whl files of DIR (empty without --wheelhouse). Make DIR for
# evaluation/requirements.txt only, e.g.
#   docker/wheelhouse.sh evaluation/requirements.txt --dest wheelhouse/evaluation
# (a wheelhouse with torch in it works too, but makes the context large).
#
# Environment: EVALUATION_IMAGE (default tag, kit-evaluation:latest), DOCKER (default docker).
# Also tags the install stage TAG-build, which keeps its cache from `docker image prune`.
# Exit status: docker build's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "build.sh: error: $*" >&2; exit 1; }

tag="${EVALUATION_IMAGE:-kit-evaluation:latest}"
base=""
wheelhouse=""
offline="auto"
extra=()
while (($#)); do
    case "$1" in
        --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; tag="$2"; shift 2 ;;
        --base-image) [[ $# -ge 2 ]] || die "--base-image needs a value"; base="$2"; shift 2 ;;
        --wheelhouse) [[ $# -ge 2 ]] || die "--wheelhouse needs a folder"; wheelhouse="$2"; shift 2 ;;
        --offline) [[ $# -ge 2 ]] || die "--offline needs auto, 1 or 0"; offline="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) die "unknown argument '$1' (docker build options go after --)" ;;
    esac
done
case "$offline" in auto|1|0) ;; *) die "--offline must be auto, 1 or 0, not '$offline'" ;; esac
docker="${DOCKER:-docker}"
command -v "$docker" >/dev/null || die "$docker not found"

ctx="$(mktemp -d "${TMPDIR:-/tmp}/evaluation-build.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$here/requirements.txt" "$ctx/"
mkdir -p "$ctx/evaluation" "$ctx/wheelhouse"
(cd "$here" && find . -name '*.py' -not -path './test/*' -not -path '*/__pycache__/*' -print0 \
    | xargs -0 cp --parents -t "$ctx/evaluation/")
if [[ -n "$wheelhouse" ]]; then
    [[ -d "$wheelhouse" ]] || die "wheelhouse folder not found: $wheelhouse"
    shopt -s nullglob
    wheels=("$wheelhouse"/*.whl)
    shopt -u nullglob
    ((${#wheels[@]})) || die "no .whl files in $wheelhouse"
    # Hard links when the temp folder is on the same file system, copies otherwise.
    cp -l "${wheels[@]}" "$ctx/wheelhouse/" 2>/dev/null || cp "${wheels[@]}" "$ctx/wheelhouse/"
    echo "build.sh: ${#wheels[@]} wheels from $wheelhouse" >&2
elif [[ "$offline" == 1 ]]; then
    die "--offline 1 needs --wheelhouse DIR"
fi

args=(build --platform linux/amd64 --tag "$tag" --build-arg "OFFLINE=$offline")
[[ -z "$base" ]] || args+=(--build-arg "BASE_IMAGE=$base")
echo "build.sh: building $tag" >&2
"$docker" "${args[@]}" "${extra[@]}" "$ctx"
echo "build.sh: built $tag" >&2
# The install stage under a tag of its own, so that `docker image prune` (.ci/docker-tidy.sh) keeps the
# install step cached, as ../build.sh does for the algorithm image.
DOCKER="$docker" "$here/../docker/tag-stage.sh" build "$tag" "${args[@]}" "${extra[@]}" "$ctx" >/dev/null \
    || echo "build.sh: warning: could not tag the install stage of $tag (its cache may be pruned)" >&2
