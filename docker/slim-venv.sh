#!/usr/bin/env bash
# Remove from the image's virtual environment what the algorithm's job never loads.
#
# Usage:
#   docker/slim-venv.sh VENV         (the Dockerfile runs it on /opt/venv after pip install)
#   docker/slim-venv.sh --help       this text
#
# What goes, and why the job never needs it (measured on torch 2.10.0+cu128 and
# 2.14.1+cu130; sizes in the README):
#   triton                   torch.compile's GPU kernel compiler; the job never compiles a model
#                            (torch finds it absent and says so only if asked to compile)
#   cuda-bindings, cuda-pathfinder
#                            NVIDIA's CUDA Python bindings: torch uses them in torch.compile
#                            back ends, profiler extras and tests, none of them in the job
#   cuSOLVER (+ cusolverMg) and torch/lib/libtorch_cuda_linalg.so
#                            torch.linalg on the GPU, loaded lazily on the first such call;
#                            the kit's linear algebra (stain fits) runs in numpy on the CPU
#   libnvrtc*.alt.so*        NVRTC's alternative builds: no library in the image names them
#   torch/include, torch/share/cmake, nvidia/*/lib/*.a and *.bc
#                            torch's C++ headers, static archives and nvshmem's device bitcode:
#                            for building C++/CUDA extensions, never read by a running job
# A model of your own that needs torch.compile or GPU linear algebra: delete its line below.
#
# Safety check: every shared library left in site-packages must resolve its dependencies
# (ldd) as well as before: a library that is still needed at load time and was removed
# fails the build here, not a job on the platform. (libcuda.so.1 and libnvidia-ml.so.1
# come from the host's driver at run time and never resolve at build time.)
# Prints each removal with its size, and the total. Exit status: 1 for an error, 2 for a usage error.
set -euo pipefail
case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "slim-venv.sh: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

die() { echo "slim-venv.sh: error: $*" >&2; exit 1; }
say() { echo "slim-venv.sh: $*" >&2; }

[[ $# -eq 1 ]] || { echo "usage: docker/slim-venv.sh VENV (see --help)" >&2; exit 2; }
venv="$1"
[[ -x "$venv/bin/python" ]] || die "$venv is not a virtual environment (no bin/python)"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
[[ -d "$site/torch" ]] || die "no torch in $site"

unresolved() {  # the "X => not found" lines of every shared library under site-packages, sorted
    find "$site" -name '*.so*' -type f -print0 | sort -z | while IFS= read -r -d '' lib; do
        ldd "$lib" 2>/dev/null | awk -v lib="${lib#"$site"/}" '/=> not found/ {print lib ": " $1}' || true
    done | grep -v -E ': (libcuda\.so\.1|libnvidia-ml\.so\.1)$' | sort -u
}

before_kb="$(du -sk "$venv" | cut -f1)"
before_missing="$(unresolved)"

removed=()
drop() {  # drop WHY PATH...: remove what exists, say how much it was
    local why="$1" kb path found=()
    shift
    for path in "$@"; do
        [[ -e "$path" ]] && found+=("$path")
    done
    ((${#found[@]})) || return 0
    kb="$(du -skc "${found[@]}" | tail -n 1 | cut -f1)"  # one du: a file inside a folder counted once
    rm -rf "${found[@]}"
    removed+=("$(printf '%6d MB  %s' $((kb / 1024)) "$why")")
}
uninstall() {  # uninstall WHY DIST...: pip-uninstall what is installed, say how much it was
    local why="$1" kb=0 dist files
    shift
    local present=()
    for dist in "$@"; do
        files="$("$venv/bin/python" - "$dist" <<'PY'
import sys
from importlib import metadata
try:
    dist = metadata.distribution(sys.argv[1])
except metadata.PackageNotFoundError:
    sys.exit(0)
for f in dist.files or []:
    print(dist.locate_file(f))
PY
)"
        [[ -n "$files" ]] || continue
        present+=("$dist")
        kb=$((kb + $(tr '\n' '\0' <<<"$files" | xargs -0 du -ck 2>/dev/null | tail -n 1 | cut -f1)))
    done
    ((${#present[@]})) || return 0
    "$venv/bin/python" -m pip uninstall --yes --quiet "${present[@]}" >/dev/null
    removed+=("$(printf '%6d MB  %s (%s)' $((kb / 1024)) "$why" "${present[*]}")")
}

uninstall "torch.compile's compiler" triton
uninstall "CUDA Python bindings" cuda-bindings cuda-pathfinder
rmdir "$site/cuda" 2>/dev/null || true
shopt -s nullglob
drop "GPU linear algebra (cuSOLVER, torch's lazily loaded linalg library)" \
    "$site/nvidia/cusolver" "$site"/nvidia/*/lib/libcusolver*.so* "$site/torch/lib/libtorch_cuda_linalg.so"
drop "NVRTC's alternative builds (no library names them)" "$site"/nvidia/*/lib/libnvrtc*.alt.so*
drop "torch's C++ headers and CMake files, static archives, nvshmem's device code" \
    "$site/torch/include" "$site/torch/share/cmake" "$site"/nvidia/*/lib/*.a "$site"/nvidia/*/lib/*.bc
shopt -u nullglob

after_missing="$(unresolved)"
new_missing="$(comm -13 <(echo "$before_missing") <(echo "$after_missing"))"
if [[ -n "$new_missing" ]]; then
    echo "$new_missing" | sed 's/^/    /' >&2
    die "these libraries lost a dependency they load at start (above): keep what provides it"
fi
after_kb="$(du -sk "$venv" | cut -f1)"
for line in "${removed[@]}"; do say "removed $line"; done
say "$venv: $((before_kb / 1024)) MB -> $((after_kb / 1024)) MB ($(((before_kb - after_kb) / 1024)) MB less);" \
    "every remaining library resolves its dependencies as before"
