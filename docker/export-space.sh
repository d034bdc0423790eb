#!/usr/bin/env bash
# Check, before `docker save IMAGE | gzip > FILE`, that the disks have room for it.
#
# Usage:
#   docker/export-space.sh IMAGE FILE
#
# Exits 0 when there is room; else prints one line saying which disk lacks how much
# and exits 1, so that an export is refused up front rather than dying half-way
# through minutes of `docker save` with "No space left on device".
#   - FILE's folder needs about 70 % of the unpacked image: the archive is about 60 %
#     at any gzip level (torch's libraries hardly compress).
#   - Docker's own folder (DockerRootDir) needs the whole unpacked image: `docker save`
#     first copies every layer into its tmp/ there, then streams the tar.
#   - Both, where the two share a disk. Docker's folder is checked only where it is
#     visible (the engine runs on this machine: not a remote DOCKER_HOST, not Docker
#     Desktop's VM).
# Environment: DOCKER (default docker). Used by export.sh and evaluation/export.sh.
set -euo pipefail

die() { echo "export.sh: error: $*" >&2; exit 1; }
[[ $# -eq 2 ]] || { echo "usage: docker/export-space.sh IMAGE FILE" >&2; exit 2; }
tag="$1"
out_dir="$(dirname "$2")"
while [[ ! -d "$out_dir" ]]; do out_dir="$(dirname "$out_dir")"; done  # the folder may not exist yet
docker="${DOCKER:-docker}"

free_at() { echo $(($(df -Pk "$1" | awk 'NR == 2 {print $4}') * 1024)); }
disk_of() { df -Pk "$1" | awk 'NR == 2 {print $1}'; }
gb() { awk -v b="$1" 'BEGIN {printf "%.1f GB", b / 1e9}'; }

image_bytes="$("$docker" image inspect --format '{{.Size}}' "$tag")"
archive_bytes=$((image_bytes * 7 / 10))
out_free="$(free_at "$out_dir")"
hint="(docker image prune removes untagged images)"

root="$("$docker" info --format '{{.DockerRootDir}}' 2>/dev/null || true)"
if [[ -n "$root" ]] && df -Pk "$root" >/dev/null 2>&1; then
    if [[ "$(disk_of "$root")" == "$(disk_of "$out_dir")" ]]; then
        need=$((archive_bytes + image_bytes))
        ((out_free >= need)) || die "$out_dir and Docker's folder $root are on one disk with $(gb "$out_free")" \
            "free; exporting $tag needs about $(gb "$need") there: $(gb "$image_bytes") for the unpacked copy" \
            "docker save makes in $root/tmp and $(gb "$archive_bytes") for the archive" \
            "$hint; or give --output FILE on another disk"
        exit 0
    fi
    root_free="$(free_at "$root")"
    ((root_free >= image_bytes)) || die "Docker's folder $root has $(gb "$root_free") free; docker save" \
        "copies the unpacked $tag ($(gb "$image_bytes")) there before it is compressed $hint"
fi
((out_free >= archive_bytes)) || die "$out_dir has $(gb "$out_free") free; the archive of $tag needs about" \
    "$(gb "$archive_bytes") (free space there, or give --output FILE elsewhere)"
