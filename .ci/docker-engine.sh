#!/usr/bin/env bash
# Make sure a Docker engine is installed and running on this machine.
#
# Usage:
#   .ci/docker-engine.sh
#
# Idempotent; safe to call at the start of every script that needs Docker.
#   1. If the `docker` client, `dockerd` or `debootstrap` (used by
#      docker/base-image.sh) is missing: apt-get install docker.io debootstrap
#      (needs root).
#   2. If `docker info` fails: start dockerd in the background (no systemd on
#      these machines), detached from this shell so it outlives it, logging to
#      $DOCKERD_LOG; wait until it answers. If it dies or does not answer in
#      time with the default storage driver (overlay2 where the kernel and the
#      backing filesystem allow it), retry once with --storage-driver=vfs
#      (slow and disk-hungry, but works anywhere).
#   3. Print one line: engine version, API, storage driver, log file.
# Exits non-zero with the tail of the daemon's log when it cannot get an engine.
#
# Environment:
#   DOCKERD_LOG             daemon log (default /tmp/dockerd.log)
#   DOCKERD_TIMEOUT         seconds to wait for the daemon (default 60)
#   DOCKER_STORAGE_DRIVER   force a storage driver (no fallback then)
#   DOCKERD_EXTRA_ARGS      extra dockerd arguments (word-split)
#
# To stop the engine this started: kill "$(cat /var/run/docker.pid)".
set -euo pipefail

log_file="${DOCKERD_LOG:-/tmp/dockerd.log}"
timeout_s="${DOCKERD_TIMEOUT:-60}"

die() { echo "docker-engine.sh: error: $*" >&2; exit 1; }
say() { echo "docker-engine.sh: $*" >&2; }

need_root() {
    [[ "$(id -u)" == 0 ]] || die "$1 needs root (run this script as root, or start the engine yourself)"
}

# --- 1. packages ----------------------------------------------------------
missing=()
{ command -v docker >/dev/null && command -v dockerd >/dev/null; } || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    need_root "installing ${missing[*]}"
    command -v apt-get >/dev/null || die "apt-get not found; install ${missing[*]} by hand"
    say "installing ${missing[*]} with apt-get (log: /tmp/docker-engine-apt.log)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
            </dev/null >/tmp/docker-engine-apt.log 2>&1; then
        tail -n 20 /tmp/docker-engine-apt.log >&2
        die "apt-get install ${missing[*]} failed (full log: /tmp/docker-engine-apt.log)"
    fi
    command -v dockerd >/dev/null || die "docker.io installed but dockerd is not on PATH ($PATH)"
fi

print_version() {
    docker version --format '{{.Server.Version}} {{.Server.APIVersion}} {{.Client.Version}}' 2>/dev/null \
        | { read -r server api client
            driver="$(docker info --format '{{.Driver}}' 2>/dev/null || echo '?')"
            echo "docker engine ${server} (API ${api}, client ${client}, storage driver ${driver}, log ${log_file})"; }
}

if docker info >/dev/null 2>&1; then
    print_version
    exit 0
fi

# --- 2. start the daemon --------------------------------------------------
case "${DOCKER_HOST:-unix:///var/run/docker.sock}" in
    unix:///var/run/docker.sock|unix:///run/docker.sock) ;;
    *) die "DOCKER_HOST=$DOCKER_HOST does not answer 'docker info': $(docker info 2>&1 | tail -n 1)" ;;
esac

# A daemon may already be starting (another caller, or a slow start): wait for it.
wait_ready() {  # wait_ready PID SECONDS -> 0 ready, 1 died, 2 timed out
    local pid="$1" deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        docker info >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || { docker info >/dev/null 2>&1 && return 0; return 1; }
        sleep 0.5
    done
    return 2
}

if [[ -f /var/run/docker.pid ]]; then
    old_pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
    if [[ -n "$old_pid" ]] && kill -0 "$old_pid" 2>/dev/null \
            && [[ "$(cat "/proc/$old_pid/comm" 2>/dev/null)" == dockerd ]]; then
        say "dockerd (pid $old_pid) is running but not answering yet; waiting up to ${timeout_s}s"
        if wait_ready "$old_pid" "$timeout_s"; then print_version; exit 0; fi
        die "dockerd pid $old_pid is running but 'docker info' fails: $(docker info 2>&1 | tail -n 1); see its log (default $log_file), or stop it: kill $old_pid"
    fi
fi
need_root "starting dockerd"

start_dockerd() {  # start_dockerd [DRIVER] -> 0 ready; else returns wait_ready's status
    local driver="$1" args=()
    [[ -n "$driver" ]] && args+=(--storage-driver="$driver")
    # shellcheck disable=SC2206  # word-splitting intended
    [[ -n "${DOCKERD_EXTRA_ARGS:-}" ]] && args+=(${DOCKERD_EXTRA_ARGS})
    say "starting dockerd ${args[*]:-(default storage driver)}; log $log_file"
    {
        echo "=== $(date -u +%FT%TZ) docker-engine.sh: dockerd ${args[*]:-}"
    } >>"$log_file"
    # setsid: own session, so the daemon is not killed with this shell's process group.
    setsid dockerd "${args[@]}" </dev/null >>"$log_file" 2>&1 &
    local pid=$!
    local rc=0
    wait_ready "$pid" "$timeout_s" || rc=$?
    if ((rc == 2)); then
        say "dockerd (pid $pid) did not answer within ${timeout_s}s; stopping it"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    return "$rc"
}

if [[ -n "${DOCKER_STORAGE_DRIVER:-}" ]]; then
    start_dockerd "$DOCKER_STORAGE_DRIVER" || {
        tail -n 25 "$log_file" >&2
        die "dockerd --storage-driver=$DOCKER_STORAGE_DRIVER did not come up (log: $log_file)"
    }
elif ! start_dockerd ""; then
    tail -n 15 "$log_file" >&2
    say "dockerd did not come up with the default storage driver; retrying with vfs"
    start_dockerd vfs || {
        tail -n 25 "$log_file" >&2
        die "dockerd did not come up, neither with the default storage driver nor with vfs (log: $log_file)"
    }
fi

# --- 3. report ------------------------------------------------------------
print_version
