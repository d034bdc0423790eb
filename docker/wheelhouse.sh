#!/usr/bin/env bash
# Build a wheelhouse on the host for installing into the kit's container images.
#
# Usage:
#   docker/wheelhouse.sh REQUIREMENTS.txt [REQUIREMENTS.txt ...] --dest DIR [-- PIP_ARGS...]
#
#   docker/wheelhouse.sh requirements.txt --dest wheelhouse
#   docker/wheelhouse.sh requirements-nodeps.txt --dest wheelhouse -- --no-deps
#
# The algorithm image's list is requirements.txt with the CUDA build's torch
# (docker/image-requirements.sh 12 > FILE); ./build.sh --cuda N --make-wheelhouse
# writes it and calls this script with it.
#
# Why: inside containers PyPI's TLS is intercepted by a proxy whose CA only the
# host trusts, so images cannot reach an index. The host downloads every wheel
# the requirements resolve to (dependencies included) into DIR, and a
# Dockerfile installs from it offline:
#   pip install --no-index --find-links /wheels -r requirements.txt
#
# Target: the base image's interpreter (docker/base-image.sh: Debian bookworm,
# CPython 3.11, glibc 2.36, x86_64). Only binary wheels (--only-binary=:all:)
# for manylinux tags up to glibc 2.36 are taken, whatever the host's Python;
# a requirement with no such wheel fails here rather than in the build.
# The host's pip configuration applies (indexes, find-links and the constraint
# file in /etc/xdg/pip), so the wheelhouse resolves as a host install would.
# Caveat (pip): environment markers other than python_version are evaluated
# on the host, so run this on Linux x86_64.
#
# Idempotent: first tries to resolve everything from DIR alone (offline, a few
# seconds); only if that fails does it consult the indexes and download what is
# missing (pip skips files already in DIR; pip's HTTP cache avoids re-fetching).
# DIR only grows: old versions stay until you delete them.
#
# Environment:
#   PYTHON            interpreter whose pip is used (default: python3)
#   KIT_PY_VERSION    target CPython version (default: 3.11)
#   KIT_GLIBC_MINOR   target glibc 2.N (default: 36, bookworm)
#   KIT_WHEELHOUSE_FORCE=1  skip the offline check and always consult indexes
#
# Exit status: 0 when DIR holds a complete wheel set for the requirements.
set -euo pipefail

die() { echo "wheelhouse.sh: error: $*" >&2; exit 1; }
log() { echo "wheelhouse.sh: $*" >&2; }

reqs=()
dest=""
pip_extra=()
while (($#)); do
    case "$1" in
        --dest) [[ $# -ge 2 ]] || die "--dest needs a directory"; dest="$2"; shift 2 ;;
        --dest=*) dest="${1#--dest=}"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; pip_extra=("$@"); break ;;
        -*) die "unknown option $1 (pip options go after --)" ;;
        *) reqs+=("$1"); shift ;;
    esac
done
((${#reqs[@]})) || die "no requirements file given (usage: wheelhouse.sh REQS... --dest DIR [-- PIP_ARGS])"
[[ -n "$dest" ]] || die "--dest DIR is required"
for r in "${reqs[@]}"; do
    [[ -f "$r" ]] || die "requirements file not found: $r"
done

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || die "$python not found (set PYTHON=...)"
"$python" -m pip --version >/dev/null 2>&1 || die "$python has no pip"
if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
    log "warning: host is $(uname -s)/$(uname -m); environment markers are evaluated on the host, the wheel set may be wrong for linux/x86_64"
fi

py_version="${KIT_PY_VERSION:-3.11}"
glibc_minor="${KIT_GLIBC_MINOR:-36}"
abi="cp${py_version/./}"
# pip (23.x) does not expand manylinux_2_N to older tags by itself: list them,
# best first, as the target's own pip would rank them.
target=(--only-binary=:all: --implementation cp --python-version "$py_version" --abi "$abi")
for ((n = glibc_minor; n >= 17; n--)); do
    target+=(--platform "manylinux_2_${n}_x86_64")
done
target+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)

req_args=()
for r in "${reqs[@]}"; do req_args+=(-r "$r"); done

mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
common=(download --dest "$dest" --no-input --progress-bar off "${target[@]}" "${req_args[@]}" "${pip_extra[@]}")

start=$SECONDS
if [[ "${KIT_WHEELHOUSE_FORCE:-0}" != 1 ]] && [[ -n "$(ls -A "$dest" 2>/dev/null)" ]]; then
    # Offline first: succeeds only if DIR already holds a complete wheel set.
    if "$python" -m pip "${common[@]}" --no-index --find-links "$dest" --quiet >/dev/null 2>&1; then
        log "up to date: $dest ($(du -sh "$dest" | cut -f1), $(find "$dest" -maxdepth 1 -name '*.whl' | wc -l) wheels) in $((SECONDS - start))s"
        exit 0
    fi
    log "offline resolution from $dest incomplete; consulting indexes"
fi

# The wheelhouse is also a find-links source, so what is already there is reused.
# (The host's extra file indexes make pip warn once per package that it lacks;
# those lines are noise and are dropped.)
if ! "$python" -m pip "${common[@]}" --find-links "$dest" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }; then
    die "pip download failed for ${reqs[*]} (target cp${py_version/./} manylinux<=2.${glibc_minor} x86_64, binary wheels only); see pip's message above"
fi
nonwheel="$(find "$dest" -maxdepth 1 -type f ! -name '*.whl' ! -name '.*' -print)"
[[ -z "$nonwheel" ]] || log "warning: non-wheel files in $dest: $nonwheel"
log "done: $dest ($(du -sh "$dest" | cut -f1), $(find "$dest" -maxdepth 1 -name '*.whl' | wc -l) wheels) in $((SECONDS - start))s"
