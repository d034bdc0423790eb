#!/usr/bin/env bash
# Save the evaluation image as a gzipped tarball for upload to grand-challenge.org.
#
# Usage:
#   evaluation/export.sh [--tag NAME] [--output FILE] [--build [BUILD_ARGS...]]
#
#   evaluation/export.sh                       # export/evaluation.tar.gz from kit-evaluation:latest
#   evaluation/export.sh --build --wheelhouse wheelhouse/evaluation
#
# --build runs build.sh first (the remaining arguments go to it).
# Environment: EVALUATION_IMAGE (default tag), DOCKER (default docker).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "export.sh: error: $*" >&2; exit 1; }

tag="${EVALUATION_IMAGE:-kit-evaluation:latest}"
output="$here/../export/evaluation.tar.gz"
build=0
build_args=()
while (($#)); do
    case "$1" in
        --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; tag="$2"; shift 2 ;;
        --output) [[ $# -ge 2 ]] || die "--output needs a file"; output="$2"; shift 2 ;;
        --build) build=1; shift; build_args=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1'" ;;
    esac
done
docker="${DOCKER:-docker}"
command -v "$docker" >/dev/null || die "$docker not found"
if ((build)); then
    "$here/build.sh" --tag "$tag" "${build_args[@]}"
fi
"$docker" image inspect "$tag" >/dev/null 2>&1 || die "no image $tag (run evaluation/build.sh first)"

mkdir -p "$(dirname "$output")"
DOCKER="$docker" "$here/../docker/export-space.sh" "$tag" "$output"
tmp="$output.part"
trap 'rm -f "$tmp"' EXIT
# pipefail: a failing docker save fails the script, not only gzip.
"$docker" save "$tag" | gzip -c > "$tmp"
mv -f "$tmp" "$output"
trap - EXIT
echo "export.sh: wrote $output ($(du -h "$output" | cut -f1)) from $tag" >&2
