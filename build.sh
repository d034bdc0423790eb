#!/usr/bin/env bash
# Build the algorithm container image (./Dockerfile) from the repository root.
#
# Usage:
#   ./build.sh [--cuda 12|13] [--tag NAME] [--base-image IMAGE] [--wheelhouse DIR [--make-wheelhouse]]
#              [--wheels-url URL] [--offline auto|1|0] [-- DOCKER_BUILD_ARGS...]
#
#   ./build.sh                                       # CUDA 12 torch, python:3.11-slim, packages from PyPI
#   ./build.sh --cuda 13                             # torch 2.14.1 for CUDA 13.0 (driver >= 580)
#   ./build.sh --wheelhouse /tmp/wheelhouse-test     # offline from local wheels
#   BASE_IMAGE=kit-base:bookworm ./build.sh --make-wheelhouse --offline 1
#
# --cuda N           which torch the image holds (requirements-cuda<N>.txt in place of
#                    requirements.txt's torch, see docker/image-requirements.sh):
#                    12 (default): torch 2.10.0 for CUDA 12.8, runs on NVIDIA drivers >= 525.60.13
#                    (grand-challenge's GPU hosts pin no driver; AWS documents 470-550 ones);
#                    13: torch 2.14.1 for CUDA 13.0, needs a driver >= 580.65.06 (else the job
#                    runs on the CPU, and its first line says why). The image is labelled kit.cuda=N.
# --wheelhouse DIR   install from the wheels in DIR, offline: DIR is served with
#                    `python3 -m http.server` on 127.0.0.1 (a free port) for the
#                    duration of the build, which runs with --network host and
#                    WHEELS_URL=http://127.0.0.1:PORT/ (a multi-GB wheelhouse in the
#                    build context would be slow to send; the installed packages
#                    stay cached until requirements.txt changes). Make DIR with
#                    docker/wheelhouse.sh requirements.txt --dest DIR.
# --make-wheelhouse  first make or refresh DIR with docker/wheelhouse.sh for this CUDA build
#                    (default DIR build/wheelhouse/algorithm-cuda<N>); it only downloads what is missing.
# --wheels-url URL   a pip --find-links URL that already serves the wheels.
# --offline          auto (default): the wheelhouse when given (or ./wheelhouse/*.whl
#                    in the context), else the index; 1: fail without wheels; 0: index.
# Without a wheelhouse, pip inside the build uses PyPI (needs network access).
#
# models/detector.pt is bundled into the image when present; without it the
# image needs a model in /opt/ml/model (grand-challenge's model upload, or
# test.sh --model-dir DIR) and build.sh says so.
#
# Environment: ALGORITHM_IMAGE (default tag, kit-algorithm:latest), BASE_IMAGE
# (default base, python:3.11-slim), DOCKER (default docker), PYTHON (default
# python3, serves the wheelhouse), KIT_WHEELS_PORT (default 38451: a fixed port
# keeps the install step cached; a free one is used when it is taken).
# DOCKER_BUILDKIT defaults to 0 when the docker client has no buildx.
# Also tags the image's install stage (the venv) as TAG-venv, which keeps that step's cache
# from `docker image prune`.
# Exit status: 0 when the image is built, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "build.sh: error: $*" >&2; exit 1; }
say() { echo "build.sh: $*" >&2; }

tag="${ALGORITHM_IMAGE:-kit-algorithm:latest}"
cuda=12
base="${BASE_IMAGE:-}"
wheelhouse=""
make_wheelhouse=0
wheels_url=""
offline="auto"
extra=()
while (($#)); do
    case "$1" in
        --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; tag="$2"; shift 2 ;;
        --cuda) [[ $# -ge 2 ]] || die "--cuda needs 12 or 13"; cuda="$2"; shift 2 ;;
        --base-image) [[ $# -ge 2 ]] || die "--base-image needs a value"; base="$2"; shift 2 ;;
        --wheelhouse) [[ $# -ge 2 ]] || die "--wheelhouse needs a folder"; wheelhouse="$2"; shift 2 ;;
        --make-wheelhouse) make_wheelhouse=1; shift ;;
        --wheels-url) [[ $# -ge 2 ]] || die "--wheels-url needs a URL"; wheels_url="$2"; shift 2 ;;
        --offline) [[ $# -ge 2 ]] || die "--offline needs auto, 1 or 0"; offline="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) die "unknown argument '$1' (docker build options go after --)" ;;
    esac
done
case "$offline" in auto|1|0) ;; *) die "--offline must be auto, 1 or 0, not '$offline'" ;; esac
[[ "$cuda" =~ ^[0-9]+$ && -f "$here/requirements-cuda$cuda.txt" ]] \
    || die "--cuda must be one of $(cd "$here" && ls requirements-cuda*.txt | sed 's/requirements-cuda//; s/\.txt//' | paste -sd' ' -), not '$cuda'"
[[ -z "$wheelhouse" || -z "$wheels_url" ]] || die "give --wheelhouse or --wheels-url, not both"
if ((make_wheelhouse)); then
    [[ -z "$wheels_url" ]] || die "--make-wheelhouse makes a folder; it does not go with --wheels-url"
    wheelhouse="${wheelhouse:-$here/build/wheelhouse/algorithm-cuda$cuda}"
fi
docker="${DOCKER:-docker}"
python="${PYTHON:-python3}"
wheels_port="${KIT_WHEELS_PORT:-38451}"
command -v "$docker" >/dev/null || die "$docker not found"
"$docker" info >/dev/null 2>&1 || die "no Docker engine answers '$docker info' (start one: .ci/docker-engine.sh)"
if [[ -z "${DOCKER_BUILDKIT:-}" ]] && ! "$docker" buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0  # the classic builder; without buildx, BuildKit is not available
fi

if [[ -f "$here/models/detector.pt" ]]; then
    say "bundling models/detector.pt ($(du -h "$here/models/detector.pt" | cut -f1))"
else
    say "warning: no models/detector.pt: the image bundles no model and needs one in /opt/ml/model" \
        "(grand-challenge's model upload: ./export.sh --model-dir DIR; locally: ./test.sh --model-dir DIR)"
fi

server_pid=""
work=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [[ -n "$work" ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
work="$(mktemp -d "${TMPDIR:-/tmp}/algorithm-build.XXXXXX")"

if ((make_wheelhouse)); then
    "$here/docker/image-requirements.sh" "$cuda" "$here" >"$work/requirements-cuda$cuda.txt"
    "$here/docker/wheelhouse.sh" "$work/requirements-cuda$cuda.txt" --dest "$wheelhouse"
fi

args=(build --platform linux/amd64 --tag "$tag" --file "$here/Dockerfile" --build-arg "OFFLINE=$offline"
      --build-arg "CUDA=$cuda")
[[ -z "$base" ]] || args+=(--build-arg "BASE_IMAGE=$base")

if [[ -n "$wheelhouse" ]]; then
    [[ -d "$wheelhouse" ]] || die "wheelhouse folder not found: $wheelhouse"
    count="$(find "$wheelhouse" -maxdepth 1 -name '*.whl' | wc -l)"
    ((count > 0)) || die "no .whl files in $wheelhouse (make them: ./build.sh --cuda $cuda --make-wheelhouse --wheelhouse $wheelhouse)"
    command -v "$python" >/dev/null || die "$python not found (needed to serve the wheelhouse; set PYTHON=...)"
    # The URL is a build argument, so it is part of the install step's cache key:
    # a fixed port keeps that step cached from one build to the next. If the port
    # is taken, port 0 lets the kernel pick a free one (the step then reruns).
    port=""
    for try_port in "$wheels_port" 0; do
        "$python" -u -m http.server "$try_port" --bind 127.0.0.1 --directory "$wheelhouse" >"$work/http.log" 2>&1 &
        server_pid=$!
        for _ in $(seq 1 100); do
            port="$(sed -n 's/^Serving HTTP on [^ ]* port \([0-9]*\).*/\1/p' "$work/http.log" | head -n 1)"
            [[ -n "$port" ]] && break
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        [[ -n "$port" ]] && break
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
        say "could not serve the wheelhouse on port $try_port: $(tail -n 1 "$work/http.log")"
    done
    [[ -n "$port" ]] || die "the wheelhouse server did not start (see above)"
    wheels_url="http://127.0.0.1:$port/"
    say "serving $count wheels ($(du -sh "$wheelhouse" | cut -f1)) from $wheelhouse at $wheels_url"
fi
if [[ -n "$wheels_url" ]]; then
    args+=(--network host --build-arg "WHEELS_URL=$wheels_url")
elif [[ "$offline" == 1 ]] && ! compgen -G "$here/wheelhouse/*.whl" >/dev/null; then
    die "--offline 1 needs --wheelhouse DIR, --wheels-url URL or wheels in ./wheelhouse/"
fi

say "building $tag (torch for CUDA $cuda: $(grep -E '^torch==' "$here/requirements-cuda$cuda.txt"))${base:+ from $base}"
start=$SECONDS
status=0
"$docker" "${args[@]}" "${extra[@]}" "$here" || status=$?
if ((status)); then
    [[ ! -f "$work/http.log" ]] || { echo "--- wheelhouse server log (last lines)" >&2; tail -n 5 "$work/http.log" >&2; }
    die "docker build failed (exit $status)"
fi
size="$("$docker" image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.2f GB", $1 / 1e9}')"
say "built $tag in $((SECONDS - start))s ($size)"
# The install stage under a tag of its own, so that `docker image prune` (.ci/docker-tidy.sh) keeps the
# multi-GB install step cached for the next build.
DOCKER="$docker" "$here/docker/tag-stage.sh" venv "$tag" "${args[@]}" "${extra[@]}" "$here" >/dev/null \
    || say "warning: could not tag the install stage of $tag (its cache may be pruned)"
