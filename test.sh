#!/usr/bin/env bash
# Run the algorithm image on test/ the way grand-challenge.org runs it, and check it.
#
# Usage:
#   ./test.sh [--tag NAME] [--model-dir DIR] [--gpus auto|all|none] [--memory SIZE]
#             [--time-limit SECONDS] [--distance-mm D] [--probability-atol P]
#             [--min-probability P] [--mask-fraction F] [--own-python PY] [--quick]
#             [--build [BUILD_ARGS...]]
#
#   ./build.sh && ./test.sh                       # the image's bundled model (models/)
#   ./build.sh --cuda 13 --tag kit-algorithm:cuda13 && ./test.sh --tag kit-algorithm:cuda13
#   ./test.sh --model-dir /tmp/standin-model      # a model mounted at /opt/ml/model, as an upload would be
#   ./test.sh --build --cuda 12 --make-wheelhouse   # build.sh first (its arguments), then test
#
# Every run: --network none, --memory/--memory-swap SIZE (default 8g, no swap),
# --cpus not limited, --pids-limit 1024, --cap-drop ALL, --security-opt
# no-new-privileges, --shm-size 1g, a read-only root file system with a tmpfs
# /tmp, the input mounted read-only at /input and an empty writable /output, as
# the image's own (non-root) user, --gpus all when nvidia-smi works on this
# host (--gpus auto; all: always; none: never), each run killed after
# --time-limit seconds (default 900). --model-dir DIR is mounted read-only at
# /opt/ml/model, where grand-challenge extracts a model upload; the image
# prefers each file there to its bundled one (DIR may hold only some of them).
#
# First it prints the image's start-up line (python -m algorithm.startup in a container
# run like the jobs): torch and its CUDA build, the GPU and the host's driver when one is
# visible, and whether they fit.
#
# Checks, one PASS/FAIL line each (--quick: 1 and 2 only, e.g. CI's second CUDA build):
#   1. non-root     the image's user is not root, and `id -u` in a container is not 0
#   2. test case    test/input -> exit 0, /output matches test/expected_output
#                   (test/compare_outputs.py with the host's python3: points matched
#                   one to one within --distance-mm (default 0.0005 mm), names equal,
#                   probabilities within --probability-atol (default 0.02), no missing
#                   or extra points; with a GPU, compare_outputs.py --gpu: 0.002 mm,
#                   0.05, and unmatched candidates below --min-probability 0.1 forgiven)
#   3. no tissue    a glass-only slide -> exit 0, an empty, valid points file
#   4. corrupt      a truncated slide -> non-zero exit, one "error: ..." line naming it, no output
#   5. socket       inputs.json naming an unknown socket -> non-zero, one error line, no output
#   6. model dir    --model-dir pointing at a missing folder -> non-zero, one error line, no output
#   7. slide level  test/slide-level/input with --task help -> exit 0, the tumour likelihood
#                   and major axis (within --probability-atol + 2 %), the axis line
#                   (endpoints within 10 um) and the heatmap MHA (same grid, voxels within
#                   --probability-atol) match test/slide-level/expected_output
#   8. nuclei       test/nuclei/input (a 768 x 768 synthetic ROI, 0.25 um/px) with --task nuclei
#                   -> exit 0, the nuclei mask MHA on the same grid (size, spacing, origin) as
#                   test/nuclei/expected_output, at most --mask-fraction (default 0.001 = 0.1 %)
#                   of its pixels different (torch builds differ slightly: CUDA 12 and 13, CPU).
#                   Expected output: test/nuclei/make_expected.sh (rerun when models/nuclei.pt
#                   changes; test/nuclei/model.sha256 says with which model it was made)
#   9. slide label test/slide-label/input (a 4096 x 4096 synthetic slide, 0.25 um/px, a positive
#                   slide-level label) with --task label -> exit 0, the slide-label likelihood
#                   (within --probability-atol) and the call (equal) match
#                   test/slide-label/expected_output (test/slide-label/make_expected.sh; rerun
#                   when models/patch_classifier.pt or models/label_model.joblib change)
#  10. own networks the bundled networks re-saved as a participant saves a network of their
#                   own (test/own_model.py, run in a container of the image: its torch): the
#                   detector as TorchScript, the segmenter, nuclei U-Net and patch classifier as
#                   torch.export programs, each in a program checkpoint
#                   (algorithm.models.save_program), mounted at /opt/ml/model -> the test case,
#                   slide level, nuclei and slide label match their expected outputs as in 2, 7,
#                   8 and 9 (the same networks in another file format). --own-python PY: the
#                   three exported on this host as well, with PY's torch (a participant's
#                   training environment: PY must import torch and, with PYTHONPATH set to this
#                   folder, the kit), and their cases checked the same way
#  11. invoke       grand-challenge's invoke API, in one container started with
#                   GRAND_CHALLENGE_COMPONENT_API_METHOD=invoke (and --task midog,help), run
#                   like the others (--network none): test/invoke_client.py, run inside it
#                   with `docker exec`, polls GET /health on its loopback until 200, then
#                   POSTs /invoke for the test case, the slide-level case, the corrupt slide
#                   and the test case again; between jobs /input is refilled and /output
#                   emptied, as the runtime does. Each success answers 201 and its outputs
#                   match the expected ones (as in 2 and 7); the corrupt slide answers 422
#                   with the one error line and writes nothing, and /health is still 200
#                   after it; SIGTERM stops the server with status 0. Prints the time from
#                   the second test-case /invoke's request to its answer beside the
#                   exec-mode run of the same case (docker run to exit).
#  12. stopped      `docker stop` (SIGTERM to the container's python, its PID 1) once the
#                   test case's job has started -> exit 143 well within the grace period,
#                   one "error: terminated (SIGTERM)" line, no output (as PID 1 without a
#                   handler the signal was not even delivered: the job ran on until SIGKILL)
#  13. any user     the test case run as uid 4321 (`--user 4321:4321`, absent from the image's
#                   /etc/passwd, as a platform may run it) -> exit 0, /output as in 2; and run with
#                   no tmpfs at /tmp (nothing writable but /output) -> one "error: no writable
#                   temporary folder ..." line, no output
# A warning (not a failure) when the models tested are not the ones test/model.sha256
# (test/nuclei/model.sha256 for nuclei.pt) says the expected outputs were made with.
# The nuclei task is not among the invoke checks: it takes the same input socket as
# midog, so one container cannot serve both (run an invoke container with --task nuclei).
#
# Prints PASS or FAIL at the end; exit status 0 on PASS, 1 on FAIL.
# Environment: ALGORITHM_IMAGE (default tag, kit-algorithm:latest), DOCKER (default
# docker), PYTHON (default python3), KEEP_TEST_OUTPUT=1 keeps the work folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "test.sh: error: $*" >&2; exit 1; }
say() { echo "test.sh: $*" >&2; }

tag="${ALGORITHM_IMAGE:-kit-algorithm:latest}"
model_dir=""
gpus="auto"
memory="8g"
time_limit=900
distance_mm=""
probability_atol=""
min_probability=""
mask_fraction=0.001
quick=0
own_python=""
build=0
build_args=()
while (($#)); do
    case "$1" in
        --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; tag="$2"; shift 2 ;;
        --model-dir) [[ $# -ge 2 ]] || die "--model-dir needs a folder"; model_dir="$2"; shift 2 ;;
        --gpus) [[ $# -ge 2 ]] || die "--gpus needs auto, all or none"; gpus="$2"; shift 2 ;;
        --memory) [[ $# -ge 2 ]] || die "--memory needs a size"; memory="$2"; shift 2 ;;
        --time-limit) [[ $# -ge 2 ]] || die "--time-limit needs seconds"; time_limit="$2"; shift 2 ;;
        --distance-mm) [[ $# -ge 2 ]] || die "--distance-mm needs a value"; distance_mm="$2"; shift 2 ;;
        --probability-atol) [[ $# -ge 2 ]] || die "--probability-atol needs a value"; probability_atol="$2"; shift 2 ;;
        --min-probability) [[ $# -ge 2 ]] || die "--min-probability needs a value"; min_probability="$2"; shift 2 ;;
        --mask-fraction) [[ $# -ge 2 ]] || die "--mask-fraction needs a value"; mask_fraction="$2"; shift 2 ;;
        --own-python) [[ $# -ge 2 ]] || die "--own-python needs a python"; own_python="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --build) build=1; shift; build_args=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (build.sh options go after --build)" ;;
    esac
done
case "$gpus" in auto|all|none) ;; *) die "--gpus must be auto, all or none, not '$gpus'" ;; esac
[[ "$time_limit" =~ ^[0-9]+$ ]] || die "--time-limit must be whole seconds, not '$time_limit'"
docker="${DOCKER:-docker}"
python="${PYTHON:-python3}"
command -v "$docker" >/dev/null || die "$docker not found"
command -v "$python" >/dev/null || die "$python not found (needed to compare outputs)"
command -v timeout >/dev/null || die "timeout (coreutils) not found"

if ((build)); then
    "$here/build.sh" --tag "$tag" "${build_args[@]}"
fi
"$docker" image inspect "$tag" >/dev/null 2>&1 || die "no image $tag (run ./build.sh first, or ./test.sh --build)"
for f in test/compare_outputs.py test/invoke_client.py test/input/inputs.json test/expected_output test/edge-cases/no-tissue/input \
         test/edge-cases/corrupt-slide/input test/edge-cases/unknown-socket/input test/slide-level/input \
         test/slide-level/expected_output test/nuclei/input test/nuclei/expected_output \
         test/slide-label/input test/slide-label/expected_output; do
    [[ -e "$here/$f" ]] || die "$f is missing (make it: .venv/bin/python test/make_test_case.py)"
done

work="$(mktemp -d "${TMPDIR:-/tmp}/algorithm-test.XXXXXX")"
containers=()
cleanup() {
    local c
    for c in "${containers[@]}"; do "$docker" rm -f "$c" >/dev/null 2>&1 || true; done
    if [[ "${KEEP_TEST_OUTPUT:-0}" == 1 ]]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Inputs (and the model) are copied and made world-readable: the image's user is
# not the owner of this checkout, whatever umask it was made with.
cp -r "$here/test/input" "$work/input"
cp -r "$here/test/edge-cases" "$work/edge-cases"
cp -r "$here/test/slide-level" "$work/slide-level"
cp -r "$here/test/nuclei/input" "$work/nuclei-input"
cp -r "$here/test/slide-label/input" "$work/slide-label-input"
mounts_model=()
if [[ -n "$model_dir" ]]; then
    [[ -d "$model_dir" ]] || die "--model-dir $model_dir: folder not found"
    # the container loads each file from /opt/ml/model where it is there, else the one bundled in the image
    model_names=(detector.pt segmenter.pt slide_model.joblib nuclei.pt patch_classifier.pt label_model.joblib)
    given=()
    for m in "${model_names[@]}"; do [[ ! -f "$model_dir/$m" ]] || given+=("$m"); done
    ((${#given[@]})) || die "--model-dir $model_dir holds none of the model files: ${model_names[*]}"
    say "--model-dir: ${given[*]} from $model_dir; the image's own for the others"
    cp -r "$model_dir" "$work/model"
    mounts_model=(--volume "$work/model:/opt/ml/model:ro")
fi
chmod -R a+rX "$work"

gpu_args=()
if [[ "$gpus" == all ]] || { [[ "$gpus" == auto ]] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }; then
    if "$docker" run --rm --gpus all --network none --entrypoint /bin/true "$tag" >/dev/null 2>"$work/gpu.err"; then
        gpu_args=(--gpus all)
        say "GPU: $(nvidia-smi -L 2>/dev/null | head -n 1) (--gpus all)"
    elif [[ "$gpus" == all ]]; then
        die "--gpus all does not work with this engine: $(tail -n 1 "$work/gpu.err") (nvidia-container-toolkit installed?)"
    else
        echo "WARN: nvidia-smi works but docker run --gpus all does not ($(tail -n 1 "$work/gpu.err")); testing on the CPU"
    fi
fi
# the comparisons' tolerances: strict on the CPU; with a GPU, compare_outputs.py --gpu (what mixed
# precision and nvJPEG change against the CPU-made expected output); options given win
value_args=()  # for the slide-level heatmaps and numbers
if ((${#gpu_args[@]})); then value_args+=(--gpu); fi
[[ -z "$probability_atol" ]] || value_args+=(--probability-atol "$probability_atol")
point_args=("${value_args[@]}")
[[ -z "$distance_mm" ]] || point_args+=(--distance-mm "$distance_mm")
[[ -z "$min_probability" ]] || point_args+=(--min-probability "$min_probability")

# How grand-challenge runs the container (every job container here, exec and invoke alike).
# shellcheck disable=SC2054  # the commas are --tmpfs's mount options, not array separators
platform_args=(--network none
    --memory "$memory" --memory-swap "$memory"
    --pids-limit 1024
    --cap-drop ALL
    --security-opt no-new-privileges
    --shm-size 1g
    --read-only --tmpfs /tmp:rw,nosuid,nodev,size=2g)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }  # elapsed START: seconds since START

n_run=0
extra_args=()  # more docker run arguments for the next runs (check 13)
run() {  # run NAME INPUT_DIR [ALGORITHM_ARGS...]: the container as grand-challenge starts it.
    # Leaves $work/NAME/output, $work/NAME/stderr, $work/NAME/seconds (docker run to exit);
    # returns the container's exit status (124: timed out).
    local name="$1" input="$2"
    shift 2
    local out="$work/$name"
    mkdir -p "$out/output"
    chmod 0777 "$out/output"  # the image's user (uid 1001) writes here
    n_run=$((n_run + 1))
    local cname="algorithm-test-$$-$n_run"
    containers+=("$cname")
    local status=0 start
    start="$(now)"
    timeout "$time_limit" "$docker" run --rm --name "$cname" "${platform_args[@]}" "${extra_args[@]}" \
        --volume "$input:/input:ro" \
        --volume "$out/output:/output" \
        "${mounts_model[@]}" "${gpu_args[@]}" \
        "$tag" "$@" >"$out/stdout" 2>"$out/stderr" || status=$?
    elapsed "$start" >"$out/seconds"
    if ((status == 124)); then
        "$docker" rm -f "$cname" >/dev/null 2>&1 || true
        echo "(killed after --time-limit $time_limit s)" >>"$out/stderr"
    fi
    return "$status"
}

cuda_label="$("$docker" image inspect --format '{{index .Config.Labels "kit.cuda"}}' "$tag" 2>/dev/null | sed 's/<no value>//' || true)"
say "image $tag${cuda_label:+ (built with --cuda $cuda_label)}, start-up line in a container run like the jobs:"
if ! "$docker" run --rm "${platform_args[@]}" "${gpu_args[@]}" --entrypoint /opt/venv/bin/python "$tag" \
        -m algorithm.startup 2>"$work/startup.err"; then
    echo "WARN: could not print the start-up line: $(tail -n 1 "$work/startup.err")"
fi

failures=0
checks=0
pass() { checks=$((checks + 1)); echo "PASS: $*"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL: $*"; }
stderr_tail() { tail -n "${2:-5}" "$work/$1/stderr" | sed 's/^/    | /'; }
output_files() { find "$work/$1/output" -mindepth 1 | sed "s#^$work/$1/output/##" | tr '\n' ' '; }

# --- 1. non-root ---------------------------------------------------------------
user="$("$docker" image inspect --format '{{.Config.User}}' "$tag")"
# Also says which model the image would use, for the hash check below.
probe='import hashlib, os, pathlib
print(os.getuid(), os.getgid())
# each file as the job finds it: /opt/ml/model first, then the bundled one
used = [next((p for p in (pathlib.Path(d, m) for d in ("/opt/ml/model", "/opt/app/models")) if p.is_file()), None)
        for m in ("detector.pt", "segmenter.pt", "slide_model.joblib")]
where = ",".join(sorted({str(p.parent) for p in used if p is not None})) if used[0] is not None else "none"
print(where, ",".join(hashlib.sha256(p.read_bytes()).hexdigest() if p else "-" for p in used))
nuclei = [pathlib.Path(d, "nuclei.pt") for d in ("/opt/ml/model", "/opt/app/models")]
print(next((hashlib.sha256(p.read_bytes()).hexdigest() for p in nuclei if p.is_file()), "-"))'
if probe_out="$("$docker" run --rm --network none --cap-drop ALL --security-opt no-new-privileges --read-only \
        "${mounts_model[@]}" --entrypoint /opt/venv/bin/python "$tag" -c "$probe" 2>"$work/probe.err")"; then
    read -r uid gid <<<"$(sed -n 1p <<<"$probe_out")"
    read -r model_path model_sha <<<"$(sed -n 2p <<<"$probe_out")"
    nuclei_sha="$(sed -n 3p <<<"$probe_out")"
    if [[ -n "$user" && "$user" != root && "$user" != 0 && "${user%%:*}" != 0 && "$uid" != 0 ]]; then
        pass "non-root: the image runs as user '$user' (uid $uid, gid $gid)"
    else
        fail "non-root: the image's user is '${user:-<unset, root>}', id -u in the container is $uid"
    fi
else
    fail "non-root: could not run python in $tag: $(tail -n 1 "$work/probe.err")"
    model_path=none model_sha=- nuclei_sha=-
fi
expected_sha="$(cut -d' ' -f1 "$here/test/model.sha256" 2>/dev/null | paste -sd, - || true)"
if [[ "$model_path" == none ]]; then
    say "warning: the image has no bundled models/detector.pt and no --model-dir was given: the checks that run a job will fail"
elif [[ -n "$expected_sha" && "$model_sha" != "$expected_sha" ]]; then
    say "warning: testing with the models in $model_path, but test/expected_output was made with others" \
        "(test/model.sha256): regenerate it with .venv/bin/python test/make_test_case.py --model-dir DIR," \
        "or test with those models"
else
    say "models: $model_path${expected_sha:+, the ones test/expected_output was made with}"
fi
expected_nuclei_sha="$(cut -d' ' -f1 "$here/test/nuclei/model.sha256" 2>/dev/null || true)"
if [[ "$nuclei_sha" == - ]]; then
    say "warning: the image has no nuclei.pt (bundled or in --model-dir): the nuclei check will fail"
elif [[ -n "$expected_nuclei_sha" && "$nuclei_sha" != "$expected_nuclei_sha" ]]; then
    say "warning: testing with another nuclei.pt than test/nuclei/expected_output was made with" \
        "(test/nuclei/model.sha256): regenerate it with test/nuclei/make_expected.sh [--model-dir DIR]"
fi

# --- 2. the test case -------------------------------------------------------------
say "running $tag on test/input (${gpu_args[*]:-CPU}, --memory $memory, --network none, read-only root)"
status=0
run main "$work/input" || status=$?
if ((status == 0)); then
    if "$python" "$here/test/compare_outputs.py" "$here/test/expected_output" "$work/main/output" \
            "${point_args[@]}" >"$work/main/compare" 2>&1; then
        owner="$(find "$work/main/output" -type f -printf '%U\n' | sort -u | paste -sd, -)"
        pass "test case: exit 0 in $(cat "$work/main/seconds")s, /output matches test/expected_output" \
             "($(grep -o '[0-9]* matched' "$work/main/compare" | head -n 1), written by uid $owner; $(grep "tiles with tissue" "$work/main/stderr" | tail -n 1))"
        sed '$d' "$work/main/compare"
    else
        fail "test case: /output differs from test/expected_output"
        sed 's/^/    /' "$work/main/compare"
        stderr_tail main 3
    fi
else
    fail "test case: the container exited with status $status on test/input"
    stderr_tail main 10
fi

if ((quick)); then
    say "--quick: the other checks (edge cases, slide level, nuclei, slide label, own networks, invoke mode) are not run"
    if ((failures)); then echo "FAIL: algorithm container test: $failures of $checks checks failed ($tag)"; exit 1; fi
    echo "PASS: algorithm container test (quick): $checks checks ($tag${cuda_label:+, CUDA $cuda_label})"
    exit 0
fi

# --- 3-6. edge cases ------------------------------------------------------------
expect_failure() {  # expect_failure NAME DESCRIPTION PATTERN STATUS: non-zero, one error line matching PATTERN, no output
    local name="$1" what="$2" pattern="$3" status="$4"
    local errors
    errors="$(grep -c '^error: ' "$work/$name/stderr" || true)"
    if ((status == 124)); then
        fail "$what: timed out after $time_limit s"
    elif ((status == 0)); then
        fail "$what: exit status 0, expected a failure; output: $(output_files "$name")"
    elif [[ -n "$(output_files "$name")" ]]; then
        fail "$what: exit status $status but it wrote $(output_files "$name")"
    elif [[ "$errors" != 1 ]] || ! grep -q "^error: .*$pattern" "$work/$name/stderr" \
            || grep -q '^Traceback' "$work/$name/stderr"; then
        fail "$what: exit status $status; expected one 'error: ...$pattern...' line and no traceback, got:"
        stderr_tail "$name" 8
    else
        pass "$what: exit status $status, no output, $(grep '^error: ' "$work/$name/stderr")"
    fi
}

status=0
run no-tissue "$work/edge-cases/no-tissue/input" || status=$?
if ((status != 0)); then
    fail "no tissue: the container exited with status $status on a glass-only slide"
    stderr_tail no-tissue 5
elif "$python" "$here/test/compare_outputs.py" "$here/test/edge-cases/no-tissue/expected_output" \
        "$work/no-tissue/output" >"$work/no-tissue/compare" 2>&1; then
    pass "no tissue: exit 0, an empty valid points file ($(grep "tiles with tissue" "$work/no-tissue/stderr" | tail -n 1))"
else
    fail "no tissue: the output is not the expected empty points file"
    sed 's/^/    /' "$work/no-tissue/compare"
fi

status=0
run corrupt "$work/edge-cases/corrupt-slide/input" || status=$?
expect_failure corrupt "corrupt slide" "case-[0-9]*\.tif" "$status"

status=0
run socket "$work/edge-cases/unknown-socket/input" || status=$?
expect_failure socket "unknown socket" "unknown input socket" "$status"

status=0
run model "$work/input" --model-dir /opt/ml/no-such-model || status=$?
expect_failure model "missing model folder" "/opt/ml/no-such-model: model folder not found" "$status"

# --- 7. slide level ----------------------------------------------------------------
status=0
run slide-level "$work/slide-level/input" --task help || status=$?
if ((status == 0)); then
    if "$python" "$here/test/compare_outputs.py" "$here/test/slide-level/expected_output" "$work/slide-level/output" \
            "${value_args[@]}" >"$work/slide-level/compare" 2>&1; then
        pass "slide level: exit 0 in $(cat "$work/slide-level/seconds")s, /output matches" \
             "test/slide-level/expected_output ($(cd "$work/slide-level/output" && find . -type f | sed 's#^\./##' | sort | paste -sd' ' -))"
        sed '$d' "$work/slide-level/compare"
    else
        fail "slide level: /output differs from test/slide-level/expected_output"
        sed 's/^/    /' "$work/slide-level/compare"
        stderr_tail slide-level 3
    fi
else
    fail "slide level: the container exited with status $status on test/slide-level/input"
    stderr_tail slide-level 10
fi

# --- 8. nuclei ----------------------------------------------------------------------
status=0
run nuclei "$work/nuclei-input" --task nuclei || status=$?
if ((status == 0)); then
    if "$python" "$here/test/compare_outputs.py" "$here/test/nuclei/expected_output" "$work/nuclei/output" \
            --mask-fraction "$mask_fraction" >"$work/nuclei/compare" 2>&1; then
        pass "nuclei: exit 0 in $(cat "$work/nuclei/seconds")s, the mask matches test/nuclei/expected_output" \
             "($(grep -o '[0-9]* differ ([^)]*)' "$work/nuclei/compare" | head -n 1); $(grep "nuclei mask" "$work/nuclei/stderr" | tail -n 1))"
    else
        fail "nuclei: /output differs from test/nuclei/expected_output"
        sed 's/^/    /' "$work/nuclei/compare"
        stderr_tail nuclei 3
    fi
else
    fail "nuclei: the container exited with status $status on test/nuclei/input"
    stderr_tail nuclei 10
fi

# --- 9. slide label -----------------------------------------------------------------
status=0
run slide-label "$work/slide-label-input" --task label || status=$?
if ((status == 0)); then
    if "$python" "$here/test/compare_outputs.py" "$here/test/slide-label/expected_output" "$work/slide-label/output" \
            "${value_args[@]}" >"$work/slide-label/compare" 2>&1; then
        pass "slide label: exit 0 in $(cat "$work/slide-label/seconds")s, /output matches" \
             "test/slide-label/expected_output ($(grep "slide likelihood" "$work/slide-label/stderr" | tail -n 1 | sed 's/.*mean patch/mean patch/; s/; [0-9.]* s;.*//'))"
    else
        fail "slide label: /output differs from test/slide-label/expected_output"
        sed 's/^/    /' "$work/slide-label/compare"
        stderr_tail slide-label 3
    fi
else
    fail "slide label: the container exited with status $status on test/slide-label/input"
    stderr_tail slide-label 10
fi

# --- 10. own networks ------------------------------------------------------------
own_case() {  # own_case LABEL NAME INPUT EXPECTED FORMAT ARGS...: one case with the programs in $own at /opt/ml/model
    local label="$1" name="$2" input="$3" expected="$4" format="$5" status=0
    shift 5
    local what="own networks ($label): $name"
    run "own-$label-$name" "$input" "$@" || status=$?
    if ((status != 0)); then
        fail "$what: the container exited with status $status"
        stderr_tail "own-$label-$name" 10
    elif "$python" "$here/test/compare_outputs.py" "$expected" "$work/own-$label-$name/output" \
            "${compare_args[@]}" >"$work/own-$label-$name/compare" 2>&1; then
        pass "$what: exit 0 in $(cat "$work/own-$label-$name/seconds")s, /output matches" \
             "${expected#"$here/"} ($format$(grep -o ', [0-9]* matched' "$work/own-$label-$name/compare" | head -n 1))"
    else
        fail "$what: /output differs from ${expected#"$here/"}"
        sed 's/^/    /' "$work/own-$label-$name/compare"
        stderr_tail "own-$label-$name" 3
    fi
}
own_networks() {  # own_networks LABEL FOLDER: the test case (with a detector.pt there), slide level, nuclei, label
    local label="$1" folder="$2" bundled=("${mounts_model[@]}")
    chmod -R a+rX "$folder"
    mounts_model=(--volume "$folder:/opt/ml/model:ro")
    if [[ -f "$folder/detector.pt" ]]; then
        compare_args=("${point_args[@]}")
        own_case "$label" "test case" "$work/input" "$here/test/expected_output" "detector.pt: TorchScript"
    fi
    compare_args=("${value_args[@]}")
    own_case "$label" "slide level" "$work/slide-level/input" "$here/test/slide-level/expected_output" \
        "segmenter.pt: torch.export" --task help
    compare_args=(--mask-fraction "$mask_fraction")
    own_case "$label" "nuclei" "$work/nuclei-input" "$here/test/nuclei/expected_output" \
        "nuclei.pt: torch.export" --task nuclei
    compare_args=("${value_args[@]}")
    own_case "$label" "slide label" "$work/slide-label-input" "$here/test/slide-label/expected_output" \
        "patch_classifier.pt: torch.export" --task label
    mounts_model=("${bundled[@]}")
}
own="$work/own-image"
mkdir -p "$own"
chmod 0777 "$own"  # the image's user writes the programs here
if "$docker" run --rm -i "${platform_args[@]}" --volume "$own:/own" "${mounts_model[@]}" \
        --entrypoint /opt/venv/bin/python "$tag" - /own <"$here/test/own_model.py" >"$work/own-image.log" 2>&1; then
    own_networks image "$own"
else
    fail "own networks (image): test/own_model.py could not re-save the models in the image:"
    tail -n 5 "$work/own-image.log" | sed 's/^/    | /'
fi
if [[ -n "$own_python" ]]; then
    own="$work/own-host"
    host_torch="$("$own_python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?')"
    if [[ -n "$model_dir" ]]; then
        say "--own-python: re-saving the models of --model-dir is not done on the host; skipped"
    elif PYTHONPATH="$here" "$own_python" "$here/test/own_model.py" --export-only "$own" >"$work/own-host.log" 2>&1; then
        own_networks "host's torch $host_torch" "$own"
    else
        fail "own networks (host): $own_python test/own_model.py --export-only failed:"
        tail -n 5 "$work/own-host.log" | sed 's/^/    | /'
    fi
fi

# --- 12. stopped ----------------------------------------------------------------------
stop_check() {  # docker stop (SIGTERM to the container's PID 1, python) while a job runs
    local cname="algorithm-test-$$-stop" out="$work/stopped" start status seconds
    mkdir -p "$out/output"
    chmod 0777 "$out/output"
    containers+=("$cname")
    "$docker" run -d --name "$cname" "${platform_args[@]}" --volume "$work/input:/input:ro" \
        --volume "$out/output:/output" "${mounts_model[@]}" "${gpu_args[@]}" "$tag" >/dev/null
    start="$(now)"
    # the start-up line comes once python runs the kit (its SIGTERM handler set), before the models load
    until "$docker" logs "$cname" 2>&1 | grep -q '^algorithm [0-9]'; do
        if [[ "$("$docker" inspect --format '{{.State.Running}}' "$cname" 2>/dev/null)" != true ]] \
                || (($(awk -v s="$(elapsed "$start")" 'BEGIN {print (s > 120)}'))); then
            break
        fi
        sleep 0.1
    done
    start="$(now)"
    timeout 60 "$docker" stop --time 30 "$cname" >/dev/null 2>&1 || true
    seconds="$(elapsed "$start")"
    status="$("$docker" inspect --format '{{.State.ExitCode}}' "$cname" 2>/dev/null || echo '?')"
    "$docker" logs "$cname" >"$out/stderr" 2>&1 || true
    if [[ "$status" == 143 ]] && [[ -z "$(output_files stopped)" ]] \
            && [[ "$(tail -n 1 "$out/stderr")" == "error: terminated (SIGTERM)" ]] \
            && (($(awk -v s="$seconds" 'BEGIN {print (s < 20)}'))); then
        pass "stopped: docker stop during the job: exit 143 in $seconds s, one error line, no output"
    else
        fail "stopped: docker stop during the job: exit status $status after $seconds s (30 s: SIGKILL)," \
             "output: $(output_files stopped)"
        stderr_tail stopped 5
    fi
}

# --- 11. invoke mode ---------------------------------------------------------------
invoke_checks() {
    local dir="$work/invoke" cname="algorithm-test-$$-invoke" status=0 start answer code seconds
    mkdir -p "$dir/input" "$dir/output" "$dir/jobs"
    chmod 0777 "$dir/output"
    chmod a+rx "$dir/input"
    containers+=("$cname")
    client() {  # client ARGS...: test/invoke_client.py inside the container (its loopback)
        "$docker" exec -i "$cname" /opt/venv/bin/python - "$@" <"$here/test/invoke_client.py"
    }
    load_job() {  # load_job INPUT_DIR: what the runtime does between jobs: /input refilled, /output emptied
        find "$dir/input" -mindepth 1 -delete
        cp -r "$1/." "$dir/input/"
        chmod -R a+rX "$dir/input"
        "$docker" exec "$cname" find /output -mindepth 1 -delete || true  # as the image's user, who owns them
    }
    invoke() {  # invoke NAME: POST /invoke; leaves $dir/jobs/NAME/{answer,output}; sets code and seconds
        local job="$dir/jobs/$1"
        mkdir -p "$job"
        answer="$(client invoke --timeout "$time_limit" 2>"$job/client.err")" || true
        echo "$answer" >"$job/answer"
        code="$(sed -n 's/^status=\([0-9]*\) .*/\1/p' <<<"$answer")"
        seconds="$(sed -n 's/^status=[0-9]* seconds=\([0-9.]*\) .*/\1/p' <<<"$answer")"
        cp -r "$dir/output" "$job/output"
    }
    body() { sed -n 's/^status=[0-9]* seconds=[0-9.]* body=//p' "$dir/jobs/$1/answer"; }

    say "invoke mode: one container of $tag with GRAND_CHALLENGE_COMPONENT_API_METHOD=invoke," \
        "its loopback reached with docker exec (--network none kept)"
    start="$(now)"
    if ! "$docker" run -d --name "$cname" "${platform_args[@]}" \
            --env GRAND_CHALLENGE_COMPONENT_API_METHOD=invoke \
            --volume "$dir/input:/input:ro" --volume "$dir/output:/output" \
            "${mounts_model[@]}" "${gpu_args[@]}" "$tag" --task midog,help >/dev/null 2>"$dir/run.err"; then
        fail "invoke: could not start the container: $(tail -n 1 "$dir/run.err")"
        return
    fi
    answer="$(client health --wait "$time_limit" 2>&1)" || status=$?
    if ((status)); then
        fail "invoke: /health did not answer 200 ($answer)"
        "$docker" logs "$cname" 2>&1 | tail -n 8 | sed 's/^/    | /'
        return
    fi
    pass "invoke: /health answered 200 after $(elapsed "$start") s from docker run" \
         "($(sed -n 's/.*non200=\([0-9]*\).*/\1/p' <<<"$answer") non-200 answers while loading)"

    local first_seconds=""
    check_success() {  # check_success NAME WHAT EXPECTED [COMPARE_ARGS...]
        local name="$1" what="$2" expected="$3"
        shift 3
        if [[ "$code" != 201 ]]; then
            fail "invoke: $what answered ${code:-nothing}, not 201: $(body "$name")"
            "$docker" logs "$cname" 2>&1 | tail -n 5 | sed 's/^/    | /'
        elif "$python" "$here/test/compare_outputs.py" "$expected" "$dir/jobs/$name/output" "$@" \
                >"$dir/jobs/$name/compare" 2>&1; then
            pass "invoke: $what: 201 in ${seconds}s, /output matches ${expected#"$here"/}" \
                 "($(cd "$dir/jobs/$name/output" && find . -type f | sed 's#^\./##' | sort | paste -sd' ' -))"
        else
            fail "invoke: $what: 201 but /output differs from ${expected#"$here"/}"
            sed 's/^/    /' "$dir/jobs/$name/compare"
        fi
    }
    load_job "$work/input"
    invoke test-case-1
    first_seconds="$seconds"
    check_success test-case-1 "test case" "$here/test/expected_output" "${point_args[@]}"

    load_job "$work/slide-level/input"
    invoke slide-level
    check_success slide-level "slide level" "$here/test/slide-level/expected_output" \
        "${value_args[@]}"

    load_job "$work/edge-cases/corrupt-slide/input"
    invoke corrupt
    local error errors health
    error="$(body corrupt | "$python" -c 'import json, sys; print(json.load(sys.stdin).get("error", ""))' 2>/dev/null || true)"
    errors="$("$docker" logs "$cname" 2>&1 | grep -c '^error: ' || true)"
    health="$(client health --wait 10 2>&1 || true)"
    if [[ "$code" == 201 || -z "$code" ]]; then
        fail "invoke: corrupt slide answered ${code:-nothing}, expected a failure: $(body corrupt)"
    elif [[ -n "$(find "$dir/jobs/corrupt/output" -mindepth 1)" ]]; then
        fail "invoke: corrupt slide answered $code but wrote $(cd "$dir/jobs/corrupt/output" && find . -mindepth 1 | tr '\n' ' ')"
    elif ! grep -q "^error: .*case-[0-9]*\.tif" <<<"$error" || [[ "$errors" != 1 ]] \
            || "$docker" logs "$cname" 2>&1 | grep -q '^Traceback'; then
        fail "invoke: corrupt slide answered $code; expected one 'error: ...case-N.tif...' line (answer: $error;" \
             "$errors error lines in the log)"
    elif [[ "$health" != status=200* ]]; then
        fail "invoke: after the corrupt slide /health is not 200: $health"
    else
        pass "invoke: corrupt slide: $code, no output, /health still 200, $error"
    fi

    load_job "$work/input"
    invoke test-case-2
    check_success test-case-2 "test case again" "$here/test/expected_output" "${point_args[@]}"
    if diff -r -q "$dir/jobs/test-case-2/output" "$work/main/output" >/dev/null 2>&1; then
        say "invoke: the test case's outputs are byte-identical to the exec-mode run's"
    else
        say "invoke: the test case's outputs differ in bytes from the exec-mode run's (within the tolerances above)"
    fi
    echo "TIME: test case: exec mode $(cat "$work/main/seconds") s from docker run to exit" \
         "(the job's own: $(sed -n 's/.*output written in \([0-9.]*\) s.*/\1/p' "$work/main/stderr" | tail -n 1) s);" \
         "invoke mode ${seconds:-?} s from the second /invoke's request to its answer (the first: ${first_seconds:-?} s)"

    status=0
    timeout 60 "$docker" stop --time 30 "$cname" >/dev/null 2>&1 || true
    status="$("$docker" inspect --format '{{.State.ExitCode}}' "$cname" 2>/dev/null || echo '?')"
    "$docker" logs "$cname" >"$dir/container.log" 2>&1 || true
    if [[ "$status" == 0 ]] && grep -q "^invoke: stopping after 4 jobs" "$dir/container.log"; then
        pass "invoke: SIGTERM stopped the server with status 0 after 4 jobs"
    else
        fail "invoke: after docker stop the container's status is $status"
        tail -n 5 "$dir/container.log" | sed 's/^/    | /'
    fi
}

finish() {
    if ((failures)); then
        echo "FAIL: algorithm container test: $failures of $checks checks failed ($tag)"
        exit 1
    fi
    echo "PASS: algorithm container test: $checks checks ($tag${cuda_label:+, CUDA $cuda_label})"
    exit 0
}

# --- 13. any user, no /tmp ------------------------------------------------------------
user_checks() {
    local status=0
    extra_args=(--user 4321:4321)  # a uid the image's /etc/passwd does not know
    run any-user "$work/input" || status=$?
    extra_args=()
    if ((status == 0)) && "$python" "$here/test/compare_outputs.py" "$here/test/expected_output" \
            "$work/any-user/output" "${point_args[@]}" >"$work/any-user/compare" 2>&1; then
        pass "any user: the test case as uid 4321 (not in the image's /etc/passwd): exit 0, /output matches"
    else
        fail "any user: the test case as uid 4321 exited with status $status or its /output differs"
        stderr_tail any-user 5
    fi
    local saved=("${platform_args[@]}") kept=() arg skip=0
    for arg in "${platform_args[@]}"; do  # the same run with nothing writable but /output
        if ((skip)); then skip=0; continue; fi
        if [[ "$arg" == --tmpfs ]]; then skip=1; continue; fi
        kept+=("$arg")
    done
    platform_args=("${kept[@]}")
    status=0
    run no-tmp "$work/input" || status=$?
    platform_args=("${saved[@]}")
    expect_failure no-tmp "no /tmp (a read-only root without a tmpfs)" "no writable temporary folder" "$status"
}

invoke_checks
stop_check
user_checks
finish
