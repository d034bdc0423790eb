#!/usr/bin/env bash
# Remove what earlier builds left in the Docker engine: stopped containers and
# untagged ("dangling") images.
#
# Usage:
#   .ci/docker-tidy.sh
#
# The CI machine keeps its engine's folder between runs. Every build that retags
# kit-algorithm:ci (and :ci-cuda13, kit-evaluation:ci) leaves the previous image
# untagged; every rebuilt venv layer is 5 to 6.5 GB. Left alone they filled the disk
# until `docker save` in export.sh had no room (the run of 2026-11-29). Tagged images
# and the layers under them stay, so the next build still finds its cache.
# Prints what it freed and the free space of Docker's folder.
set -euo pipefail

docker="${DOCKER:-docker}"
root="$("$docker" info --format '{{.DockerRootDir}}')"
"$docker" container prune --force >/dev/null
freed="$("$docker" image prune --force | sed -n 's/^Total reclaimed space: //p')"
free="$(df -Ph "$root" 2>/dev/null | awk 'NR == 2 {print $4}' || true)"
echo "docker-tidy.sh: removed untagged images and stopped containers (${freed:-0B} freed);" \
    "${free:-?} free in $root"
