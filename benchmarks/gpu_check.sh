#!/usr/bin/env bash
# The kit's GPU figures and GPU/CPU agreement, in one run on a machine with CUDA.
#
#     benchmarks/gpu_check.sh OUT_DIR
#     benchmarks/gpu_check.sh --help      this text, and nothing run
#
# Wheels in .whl/ (packages the machine lacks: openslide-python, openslide-bin, imagecodecs,
# pydicom, scikit-learn) are installed first into /tmp/site: benchmarks/gpu_wheels.sh fetches them
# (19 MB, imagecodecs slimmed to the codecs slides use, so the checkout and the wheels stay under the
# device's 64 MiB; carry [".whl"]).
# About 450 s on an H200 (one start of the machine: 30-60 s more; with the bundled 4-view detector each CPU
# job takes ~33 s); the steps most runs need, in about 320 s, skipping the rest (a profile of the CUDA job
# costs 15 s more):
#   GPU_CHECK_SKIP='engine-cuda-host|engine-cuda-4cpus-host|model|engine-cpu|midog-cuda-host|compare midog-cuda-host|profile-cuda|profile-report'
# Then, each step logged to OUT_DIR/log.txt (a failing step does not stop the others; GPU_CHECK_SKIP='model|engine-cpu'
# skips the steps so named, to fit what is left of a device budget):
#   1. the GPU and the versions;
#   2. the container's test case (midog) run with --device cuda and compared with its
#      expected output (made on the CPU) at test.sh's GPU tolerances (compare_outputs.py --gpu);
#   3. benchmarks/bench_engine.py --device cuda (its defaults: batch 256, stored JPEG tiles
#      decoded by nvJPEG), and with --cpus 4 (grand-challenge's default 4 vCPUs)
#      -> OUT_DIR/engine-cuda.json, engine-cuda-4cpus.json; both again decoding on the host's
#      cores (--no-device-decode) -> engine-cuda-host.json, engine-cuda-4cpus-host.json;
#      the heatmap alone in batches of 16 and 32 -> engine-cuda-seg16.json, engine-cuda-seg32.json, and
#      under cProfile (its table, by own time, in the log); benchmarks/bench_device_regions.py
#      (the regions cut from nvJPEG's stored tiles: copies and milliseconds per batch) into the log;
#      benchmarks/bench_model.py (the models alone by batch size, with and without cuDNN's
#      autotuner, and torch's profiler table) into the log;
#   4. python -m algorithm --task midog on the 16384^2 benchmark slide, --device cpu and
#      cuda (and cuda --no-device-decode): wall time of each (the first two twice), outputs compared
#      (CPU expected, --gpu); the summary line splits each job's time (device, models, tissue mask...);
#      the CUDA job once more under cProfile (profile-cuda; its main thread's cumulative table in the log);
#      the tumour and nuclei tasks on CPU and CUDA by benchmarks/device_agreement.py
#      -> OUT_DIR/agreement.json;
#   5. benchmarks/bench_engine.py --device cpu on all cores -> OUT_DIR/engine-cpu.json.
# At the end the log and the JSON files are packed into OUT_DIR/gpu-check.tar.gz (the device tool brings
# back at most 8 files), OUT_DIR/summary.txt beside it.
#
# Environment: PYTHON (default python3); GPU_CHECK_DEVICE (default cuda; cpu: a dry run of the wiring on a
# machine without CUDA); GPU_CHECK_SKIP (above); STEP_TIMEOUT (seconds a step may take, default 150).
# Exit status 2 for a usage error, else 0: a failing step shows only in the log and summary.txt.
set -u
case "${1:-}" in
    -h|--help) sed -n '2,/^set -u$/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu_check.sh: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
[[ $# -eq 1 ]] || { echo "usage: benchmarks/gpu_check.sh OUT_DIR (see --help)" >&2; exit 2; }
out="$1"
mkdir -p "$out"
cd "$(dirname "$0")/.." || exit 1
py="${PYTHON:-python3}"
gpu="${GPU_CHECK_DEVICE:-cuda}"  # cpu: a dry run of the wiring on a machine without CUDA
export PYTHONUNBUFFERED=1
log="$out/log.txt"
work="$(mktemp -d)"

if compgen -G ".whl/*.whl" >/dev/null; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >>"$log" 2>&1 && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi

step() {  # step NAME COMMAND...: run it, log its output, its exit status and its wall time
    local name="$1" start rc
    shift
    if [[ -n "${GPU_CHECK_SKIP:-}" && "$name" =~ ^(${GPU_CHECK_SKIP})$ ]]; then
        echo "=== $name: skipped" | tee -a "$log"
        return 0
    fi
    echo "=== $name: $*" | tee -a "$log"
    start="$EPOCHREALTIME"
    timeout "${STEP_TIMEOUT:-150}" "$@" >>"$log" 2>&1
    rc=$?
    echo "=== $name: exit $rc in $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $start }") s" | tee -a "$log"
    return $rc
}

profile_table() {  # profile_table NAME PROFILE ORDER LINES: a cProfile file's first LINES rows by ORDER, into the log
    step "$1" "$py" -c "import pstats, sys; pstats.Stats(sys.argv[1]).sort_stats(sys.argv[2]).print_stats(int(sys.argv[3]))" \
        "$2" "$3" "$4"
}

job() {  # job NAME INPUT DEVICE ARGS...: python -m algorithm into $work/NAME
    local name="$1" input="$2" device="$3"
    shift 3
    rm -rf "${work:?}/$name"
    step "$name" "$py" -m algorithm --input "$input" --output "$work/$name" --device "$device" "$@"
}

compare() {  # compare EXPECTED ACTUAL: at test.sh's GPU tolerances
    step "compare $(basename "$2")" "$py" test/compare_outputs.py "$1" "$2" --gpu
}

step gpu nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
step versions "$py" -c "import os, torch, torchvision, openslide, imagecodecs, sklearn; print(torch.__version__, \
torchvision.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA', \
len(os.sched_getaffinity(0)), 'cores')"

# 2. the container's test cases on CUDA, against outputs made on the CPU (test.sh's GPU tolerances)
job main test/input "$gpu" && compare test/expected_output "$work/main"

# 3. the engine on CUDA, on the benchmark slide (generated once into build/bench, ~40 s)
step slide "$py" -c "import sys; sys.path.insert(0, '.'); from pathlib import Path; \
from benchmarks.common import synthetic; print(synthetic(Path('build/bench'), 16384, 505))"
step engine-cuda "$py" benchmarks/bench_engine.py --device "$gpu" --json "$out/engine-cuda.json"
step engine-cuda-4cpus "$py" benchmarks/bench_engine.py --device "$gpu" --cpus 4 --json "$out/engine-cuda-4cpus.json"
# the bundled detector runs 4 test-time views as one batch: the same with one view, for what the views cost
step engine-cuda-views1 "$py" benchmarks/bench_engine.py --device "$gpu" --only detection --views 1 \
    --json "$out/engine-cuda-views1.json"
# the same with the stored JPEG tiles decoded by the reader threads on the host's cores
step engine-cuda-host "$py" benchmarks/bench_engine.py --device "$gpu" --no-device-decode \
    --json "$out/engine-cuda-host.json"
step engine-cuda-4cpus-host "$py" benchmarks/bench_engine.py --device "$gpu" --cpus 4 --no-device-decode \
    --json "$out/engine-cuda-4cpus-host.json"
# the heatmap's 76 tiles are one batch at 256: the same in batches of 16 and 32 (5 and 3 batches), to see
# whether its ratio is that one batch's latency or would overlap like detection's
step engine-cuda-seg16 "$py" benchmarks/bench_engine.py --device "$gpu" --only segmentation --batch-size 16 \
    --json "$out/engine-cuda-seg16.json"
step engine-cuda-seg32 "$py" benchmarks/bench_engine.py --device "$gpu" --only segmentation --batch-size 32 \
    --json "$out/engine-cuda-seg32.json"
# and where its consumer thread's time goes (the main thread: reading is on other threads); 5 repeats,
# so that the first run's start-up (CUDA's lazy kernels, nvJPEG) is not most of the table
step profile-seg "$py" -m cProfile -o "$work/seg.prof" benchmarks/bench_engine.py --device "$gpu" --only segmentation \
    --repeat 5
profile_table profile-seg-report "$work/seg.prof" tottime 40
# the consumer's cutting of regions from nvJPEG-decoded stored tiles: copies per batch and milliseconds
step device-regions "$py" benchmarks/bench_device_regions.py --device "$gpu"
# the models alone: batch sizes, cuDNN's autotuner off and on, and the profiler's table
step model "$py" benchmarks/bench_model.py --device "$gpu" --profile

# 4. whole jobs on the benchmark slide, CPU and CUDA
slide=build/bench/bench-16384-505.tiff
job midog-cpu "$slide" cpu --task midog
job midog-cuda "$slide" "$gpu" --task midog
compare "$work/midog-cpu" "$work/midog-cuda"
job midog-cpu-again "$slide" cpu --task midog  # each job once more: their times vary from run to run
job midog-cuda-again "$slide" "$gpu" --task midog
# where the CUDA job's wall time went: its main thread's profile (cumulative), into the log
rm -rf "$work/profiled"
step profile-cuda "$py" -m cProfile -o "$work/cuda.prof" -m algorithm --input "$slide" --output "$work/profiled" \
    --device "$gpu" --task midog
profile_table profile-report "$work/cuda.prof" cumulative 70
job midog-cuda-host "$slide" "$gpu" --task midog --no-device-decode
compare "$work/midog-cpu" "$work/midog-cuda-host"
# the tumour and nuclei tasks in-process (their MHA outputs would need SimpleITK, too big to carry)
step agreement "$py" benchmarks/device_agreement.py --device "$gpu" --json "$out/agreement.json"

# 5. the engine on all CPU cores (one repeat: the CPU's figures for scale)
step engine-cpu "$py" benchmarks/bench_engine.py --device cpu --repeat 1 --json "$out/engine-cpu.json"
grep -E "^=== .*exit|tiles/s|ratio|split|PASS|FAIL|matched|written in|tumour|autotune" "$log" >"$out/summary.txt"
# the device tool brings back at most 8 files: the log and the JSON figures in one archive, the summary beside it
(cd "$out" && tar -czf gpu-check.tar.gz log.txt ./*.json 2>/dev/null; rm -f log.txt ./*.json)
rm -rf "$work"
