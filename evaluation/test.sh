#!/usr/bin/env bash
# Run the evaluation image on evaluation/test/ the way grand-challenge.org does, and check it.
#
# Usage:
#   evaluation/test.sh [--no-build] [--tag NAME] [--rtol R] [--atol A] [-- BUILD_ARGS...]
#
#   evaluation/test.sh                                           # build, then test
#   evaluation/test.sh -- --wheelhouse wheelhouse/evaluation      # build offline, then test
#   evaluation/test.sh --no-build --tag kit-evaluation:ci
#
# 1. Runs the image with no network, a memory and process limit, all
#    capabilities dropped, no-new-privileges, a read-only root file system,
#    the test input and ground truth mounted read-only, and a fresh /output.
#    Its metrics.json must match evaluation/test/expected_output/metrics.json
#    within the tolerance (evaluation/compare_metrics.py, run with the host's
#    python3, standard library only).
# 2. Runs it on the same input with one job marked failed: it must exit 1,
#    say why on stderr and write no metrics.json.
# 3. Runs it with the plots asked for as grand-challenge would (no arguments:
#    "plots": true in a copy of the ground truth's config.json): the four PNGs
#    must be there and be PNGs of the expected size, and metrics.json as in 1.
#
# Prints PASS or FAIL; exit status 0 on PASS, 1 on FAIL.
# Environment: EVALUATION_IMAGE (default tag), DOCKER (default docker), PYTHON (default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "test.sh: error: $*" >&2; exit 1; }

tag="${EVALUATION_IMAGE:-kit-evaluation:latest}"
build=1
rtol=1e-6
atol=1e-9
build_args=()
while (($#)); do
    case "$1" in
        --no-build) build=0; shift ;;
        --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; tag="$2"; shift 2 ;;
        --rtol) [[ $# -ge 2 ]] || die "--rtol needs a value"; rtol="$2"; shift 2 ;;
        --atol) [[ $# -ge 2 ]] || die "--atol needs a value"; atol="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; build_args=("$@"); break ;;
        *) die "unknown argument '$1' (build.sh options go after --)" ;;
    esac
done
docker="${DOCKER:-docker}"
python="${PYTHON:-python3}"
command -v "$docker" >/dev/null || die "$docker not found"
command -v "$python" >/dev/null || die "$python not found (needed to compare metrics)"

if ((build)); then
    "$here/build.sh" --tag "$tag" "${build_args[@]}"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/evaluation-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/output" "$work/output-failed" "$work/output-plots"
# The image runs as an unprivileged user with another uid: let it write /output.
chmod 0777 "$work/output" "$work/output-failed" "$work/output-plots"

run() {  # run OUTPUT_DIR INPUT_DIR [GROUND_TRUTH_DIR]: the container as grand-challenge would start it
    "$docker" run --rm \
        --network none \
        --memory 2g --memory-swap 2g \
        --pids-limit 256 \
        --cap-drop ALL \
        --security-opt no-new-privileges \
        --read-only --tmpfs /tmp:rw,size=256m \
        --volume "$2:/input:ro" \
        --volume "${3:-$here/test/ground_truth}:/opt/ml/input/data/ground_truth:ro" \
        --volume "$1:/output" \
        "$tag"
}

failures=0

echo "test.sh: 1/3 scoring evaluation/test/input with $tag" >&2
if run "$work/output" "$here/test/input"; then
    if ! "$python" "$here/compare_metrics.py" --rtol "$rtol" --atol "$atol" \
            "$here/test/expected_output/metrics.json" "$work/output/metrics.json"; then
        failures=$((failures + 1))
    fi
else
    echo "FAIL: the container exited with status $? on the test input" >&2
    failures=$((failures + 1))
fi

echo "test.sh: 2/3 a failed algorithm job must fail the evaluation" >&2
cp -r "$here/test/input" "$work/input-failed"
"$python" - "$work/input-failed/predictions.json" <<'PY'
import json, sys
path = sys.argv[1]
jobs = json.load(open(path))
jobs[0]["status"] = "Failed"
json.dump(jobs, open(path, "w"))
PY
chmod -R a+rX "$work/input-failed"
set +e
run "$work/output-failed" "$work/input-failed" 2> "$work/stderr-failed"
status=$?
set -e
if [[ $status -eq 1 && ! -e "$work/output-failed/metrics.json" ]] && grep -q "not 'Succeeded'" "$work/stderr-failed"; then
    echo "PASS: a failed job stops the evaluation: $(tail -n 1 "$work/stderr-failed")"
else
    echo "FAIL: expected exit status 1, a message about the failed job and no metrics.json;" \
         "got status $status, stderr: $(tail -n 3 "$work/stderr-failed")" >&2
    failures=$((failures + 1))
fi

echo "test.sh: 3/3 the plots, asked for in the config" >&2
cp -r "$here/test/ground_truth" "$work/ground-truth-plots"
"$python" - "$work/ground-truth-plots/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["plots"] = True
json.dump(config, open(path, "w"))
PY
chmod -R a+rX "$work/ground-truth-plots"
if run "$work/output-plots" "$here/test/input" "$work/ground-truth-plots"; then
    # Each PNG: the signature, then the IHDR chunk's width and height (evaluation/plots.py's FIGURE_SIZE_PX).
    if "$python" - "$work/output-plots" <<'PY'
import struct, sys
from pathlib import Path
folder = Path(sys.argv[1])
bad = []
for name in ("classification_roc.png", "detection_froc.png", "detection_precision_recall.png", "segmentation_dice.png"):
    path = folder / name
    head = path.read_bytes()[:24] if path.is_file() else b""
    if head[:8] != b"\x89PNG\r\n\x1a\n" or struct.unpack(">II", head[16:24]) != (960, 720):
        bad.append(name)
if bad or not (folder / "metrics.json").is_file():
    sys.exit(f"FAIL: missing or not 960 x 720 PNGs: {bad}, or no metrics.json")
print("PASS: the plots were written:", ", ".join(sorted(p.name for p in folder.glob("*.png"))))
PY
    then
        "$python" "$here/compare_metrics.py" --rtol "$rtol" --atol "$atol" \
            "$here/test/expected_output/metrics.json" "$work/output-plots/metrics.json" || failures=$((failures + 1))
    else
        failures=$((failures + 1))
    fi
else
    echo "FAIL: the container exited with status $? with the plots asked for" >&2
    failures=$((failures + 1))
fi

if ((failures)); then
    echo "FAIL: evaluation container test ($failures check(s) failed)"
    exit 1
fi
echo "PASS: evaluation container test"
