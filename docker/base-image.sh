#!/usr/bin/env bash
# Provide the kit's base image locally: Debian bookworm with python3 (3.11),
# python3-venv, python3-pip and ca-certificates.
#
# Usage:
#   docker/base-image.sh [NAME]        (default NAME: kit-base:bookworm)
#
#   1. If image NAME exists in the engine: nothing to do.
#   2. Else try `docker pull NAME` (short timeout; these machines reach no
#      registry, so this normally fails fast).
#   3. Else debootstrap a bookworm minbase from the Debian mirror that apt is
#      configured with (or $KIT_DEBIAN_MIRROR) into a temporary directory,
#      `docker import` it as NAME, and remove the directory (needs root).
#   Then check the image: python3 is 3.11 and has venv/ensurepip.
# Needs a running engine (.ci/docker-engine.sh). About a minute for step 3.
#
# Notes for Dockerfiles built FROM it:
#   - Debian marks the system python "externally managed" (PEP 668): install
#     into a venv (python3 -m venv /opt/venv), not with the system pip.
#   - Nothing can be downloaded from inside a build: install Python packages
#     from a host-built wheelhouse (docker/wheelhouse.sh) with --no-index.
#   - ENV: PATH and LANG=C.UTF-8 are set; CMD is python3; user is root.
#
# Environment:
#   KIT_DEBIAN_MIRROR       mirror URL (default: apt's bookworm source on this host)
#   KIT_BASE_PULL=0         do not try `docker pull`
#   KIT_BASE_PULL_TIMEOUT   seconds for the pull attempt (default 20)
#   KIT_BASE_CACHE=DIR      keep the root filesystem tarball in DIR and import
#                           from it next time instead of running debootstrap
#   KIT_BASE_TMPDIR         where the temporary root filesystem goes (default /var/tmp;
#                           must allow device nodes, i.e. not a nodev mount)
set -euo pipefail

name="${1:-kit-base:bookworm}"
suite=bookworm
py_expected="3.11"
packages="python3,python3-venv,python3-pip,ca-certificates"

die() { echo "base-image.sh: error: $*" >&2; exit 1; }
say() { echo "base-image.sh: $*" >&2; }

[[ $# -le 1 ]] || die "usage: base-image.sh [NAME]"
[[ "$name" != -* ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0; }
command -v docker >/dev/null || die "docker client not found; run .ci/docker-engine.sh first"
docker info >/dev/null 2>&1 || die "no Docker engine answers 'docker info'; run .ci/docker-engine.sh first"

check_image() {  # prints python's version; fails if the image is unsuitable
    docker run --rm --network none --entrypoint python3 "$name" -c "
import sys, venv, ensurepip
v = '%d.%d' % sys.version_info[:2]
assert v == '$py_expected', 'python3 is %s, expected $py_expected' % v
print(sys.version.split()[0])"
}

report() {  # report HOW
    local py
    py="$(check_image 2>&1)" || die "image $name is not a usable base ($1): $py; remove it (docker rmi $name) or pick another NAME"
    say "$name ready ($1): $(docker image inspect --format '{{.Id}}' "$name" | cut -c1-19), \
$(docker image inspect --format '{{.Size}}' "$name" | awk '{printf "%.0f MB", $1/1e6}'), python $py"
}

# --- 1. already there -------------------------------------------------------
if docker image inspect "$name" >/dev/null 2>&1; then
    report "already present"
    exit 0
fi

start=$SECONDS

# --- 2. pull ------------------------------------------------------------------
if [[ "${KIT_BASE_PULL:-1}" != 0 ]]; then
    say "trying docker pull $name (timeout ${KIT_BASE_PULL_TIMEOUT:-20}s)"
    if timeout "${KIT_BASE_PULL_TIMEOUT:-20}" docker pull -q "$name" >/dev/null 2>&1; then
        report "pulled in $((SECONDS - start))s"
        exit 0
    fi
    say "pull failed or timed out"
fi

# --- 3. debootstrap + import ------------------------------------------------
safe_name="${name//[^A-Za-z0-9._-]/_}"
cache_tar=""
if [[ -n "${KIT_BASE_CACHE:-}" ]]; then
    mkdir -p "$KIT_BASE_CACHE"
    cache_tar="$(cd "$KIT_BASE_CACHE" && pwd)/$safe_name.tar.gz"
fi

import_tar() {  # import_tar FILE|- MIRROR
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        --change "LABEL kit.base.suite=$suite kit.base.mirror=\"$2\" kit.base.packages=\"$packages\" kit.base.created=$(date -u +%FT%TZ)" \
        --message "debootstrap --variant=minbase $suite from $2" \
        "$1" "$name" >/dev/null
}

if [[ -n "$cache_tar" && -s "$cache_tar" ]]; then
    say "importing cached root filesystem $cache_tar"
    import_tar "$cache_tar" "cache:$cache_tar" || die "docker import of $cache_tar failed (delete it to rebuild)"
    report "imported from cache in $((SECONDS - start))s"
    exit 0
fi

[[ "$(id -u)" == 0 ]] || die "building the base image with debootstrap needs root"
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap \
        </dev/null >/dev/null 2>&1 || die "apt-get install debootstrap failed"
fi

# The mirror apt already uses (no host name hard-coded here).
mirror="${KIT_DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]] && command -v apt-get >/dev/null; then
    # shellcheck disable=SC2016  # $(...) here is apt's format syntax, not the shell's
    targets="$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(TARGET_OF)' \
               'Created-By: Packages' 2>/dev/null | sort -u || true)"
    mirror="$(awk -v s="$suite" '$2 == s && $3 == "main" && $4 == "deb" {print $1; exit}' <<<"$targets")"
    if [[ -z "$mirror" ]] && grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
        # Another Debian release's main mirror serves bookworm too.
        mirror="$(awk '$2 !~ /-/ && $3 == "main" && $4 == "deb" {print $1; exit}' <<<"$targets")"
    fi
fi
[[ -n "$mirror" ]] || die "no Debian mirror found in apt's sources (/etc/apt/sources.list*); set KIT_DEBIAN_MIRROR=http://.../debian"

work="$(mktemp -d "${KIT_BASE_TMPDIR:-/var/tmp}/kit-base.XXXXXX")"
cleanup() {
    # debootstrap mounts /proc etc. inside the target; never delete through a mount.
    local m
    set +e
    { findmnt -rn -o TARGET 2>/dev/null | grep -F "$work/" || true; } | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
rootfs="$work/rootfs"

say "debootstrap --variant=minbase $suite from $mirror (log: $work/debootstrap.log, kept only on failure)"
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
        </dev/null >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    [[ -f "$rootfs/debootstrap/debootstrap.log" ]] && tail -n 20 "$rootfs/debootstrap/debootstrap.log" >&2
    cp "$work/debootstrap.log" /tmp/kit-base-debootstrap.log 2>/dev/null || true
    die "debootstrap failed (log copied to /tmp/kit-base-debootstrap.log)"
fi
say "debootstrap done in $((SECONDS - start))s"

# Slim it down and drop host details copied in by debootstrap.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
       "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/debconf/*-old \
       "$rootfs"/tmp/* "$rootfs"/var/tmp/*
find "$rootfs/var/log" -type f -delete
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"

if [[ -n "$cache_tar" ]]; then
    tar --numeric-owner -C "$rootfs" -c . | gzip -1 >"$cache_tar.tmp" && mv "$cache_tar.tmp" "$cache_tar"
    say "cached root filesystem: $cache_tar ($(du -h "$cache_tar" | cut -f1))"
    import_tar "$cache_tar" "$mirror" || die "docker import failed"
else
    tar --numeric-owner -C "$rootfs" -c . | import_tar - "$mirror" || die "docker import failed"
fi
report "built in $((SECONDS - start))s"
