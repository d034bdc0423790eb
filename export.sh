#!/usr/bin/env bash
# Save the algorithm image and its model for upload to grand-challenge.org.
#
# Usage:
#   ./export.sh [--tag NAME] [--output FILE] [--model-dir DIR] [--model-output FILE] [--no-model]
#               [--build [BUILD_ARGS...]]
#
#   ./export.sh                                  # export/algorithm.tar.gz and export/model.tar.gz
#   ./export.sh --model-dir /tmp/standin-model   # the model tarball from another folder
#   ./export.sh --build --cuda 12 --make-wheelhouse
#
# Writes
#   export/algorithm.tar.gz  `docker save IMAGE | gzip` (upload it as the algorithm's container image)
#   export/model.tar.gz      the files of the model folder (default models/; *.md, *.png,
#                            scripts and dot files left out; must hold the files the
#                            image's task loads, as the image itself says: midog
#                            detector.pt; help segmenter.pt and slide_model.joblib;
#                            nuclei nuclei.pt; label patch_classifier.pt and
#                            label_model.joblib) at the top level of
#                            the archive: upload it as the algorithm's model, which
#                            grand-challenge extracts to /opt/ml/model, where the container
#                            prefers it to the models bundled in the image.
# Each is written to FILE.part and renamed when complete (a failed export leaves no
# partial archive). Prints the sizes. --build runs build.sh first (the remaining
# arguments go to it). --no-model skips the model tarball.
# Environment: ALGORITHM_IMAGE (default tag, kit-algorithm:latest), DOCKER (default
# docker), GZIP_LEVEL (default 6; 1 takes about a third less time for a 4 % larger
# archive). Uses pigz instead of gzip when it is installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "export.sh: error: $*" >&2; exit 1; }
say() { echo "export.sh: $*" >&2; }

tag="${ALGORITHM_IMAGE:-kit-algorithm:latest}"
output="$here/export/algorithm.tar.gz"
model_dir="$here/models"
model_output="$here/export/model.tar.gz"
model=1
build=0
build_args=()
while (($#)); do
    case "$1" in
        --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; tag="$2"; shift 2 ;;
        --output) [[ $# -ge 2 ]] || die "--output needs a file"; output="$2"; shift 2 ;;
        --model-dir) [[ $# -ge 2 ]] || die "--model-dir needs a folder"; model_dir="$2"; shift 2 ;;
        --model-output) [[ $# -ge 2 ]] || die "--model-output needs a file"; model_output="$2"; shift 2 ;;
        --no-model) model=0; shift ;;
        --build) build=1; shift; build_args=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (build.sh options go after --build)" ;;
    esac
done
level="${GZIP_LEVEL:-6}"
gzip=gzip
command -v pigz >/dev/null && gzip=pigz
[[ "$level" =~ ^[1-9]$ ]] || die "GZIP_LEVEL must be 1-9, not '$level'"
docker="${DOCKER:-docker}"
command -v "$docker" >/dev/null || die "$docker not found"

model_files=()
if ((model)); then
    [[ -d "$model_dir" ]] || die "model folder not found: $model_dir (give --model-dir DIR, or --no-model)"
    while IFS= read -r -d '' f; do
        model_files+=("${f#./}")
    done < <(cd "$model_dir" && find . -mindepth 1 \( -name '.*' -o -name '*.md' -o -name '*.png' -o -name '__pycache__' \
                 -o -name '*.sh' -o -name '*.py' \) -prune -o -type f -print0 | sort -z)
fi

if ((build)); then
    "$here/build.sh" --tag "$tag" "${build_args[@]}"
fi
"$docker" image inspect "$tag" >/dev/null 2>&1 || die "no image $tag (run ./build.sh first)"

if ((model)); then
    # The image's own code says which files its task ($ALGORITHM_TASK, built in) loads.
    task="$("$docker" image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$tag" \
        | sed -n 's/^ALGORITHM_TASK=//p')"
    needed="$("$docker" run --rm --network none --entrypoint python "$tag" -c \
        'import os; from algorithm.interface.tasks import load_tasks; from algorithm.job import model_files
print(*model_files(load_tasks(os.environ["ALGORITHM_TASK"])))')" \
        || die "could not ask $tag which model files its task loads"
    for m in $needed; do
        [[ -f "$model_dir/$m" ]] || die "no $m in $model_dir: $tag runs task '${task:-?}', which loads $needed" \
            "(give --model-dir DIR, or --no-model)"
    done
fi

parts=()
trap 'rm -f "${parts[@]}"' EXIT
mkdir -p "$(dirname "$output")"
# Refuse up front rather than die half-way through minutes of `docker save`.
DOCKER="$docker" "$here/docker/export-space.sh" "$tag" "$output"
image_bytes="$("$docker" image inspect --format '{{.Size}}' "$tag")"
parts+=("$output.part")
start=$SECONDS
# pigz (parallel gzip, same format) when installed. pipefail: a failing docker
# save fails the script, not only the compressor.
"$docker" save "$tag" | "$gzip" -c "-$level" >"$output.part"
mv -f "$output.part" "$output"
image_size="$(awk -v b="$image_bytes" 'BEGIN {printf "%.2f GB", b / 1e9}')"
cuda="$("$docker" image inspect --format '{{index .Config.Labels "kit.cuda"}}' "$tag" 2>/dev/null | sed 's/<no value>//' || true)"
say "wrote $output ($(du -h "$output" | cut -f1)) from $tag ($image_size unpacked${cuda:+, torch for CUDA $cuda})" \
    "in $((SECONDS - start))s ($gzip -$level)"

if ((model)); then
    mkdir -p "$(dirname "$model_output")"
    parts+=("$model_output.part")
    # Top-level entries (detector.pt, not models/detector.pt), no owner names, sorted.
    tar -C "$model_dir" --owner=0 --group=0 --numeric-owner --sort=name -cf - "${model_files[@]}" \
        | gzip -c -n "-$level" >"$model_output.part"
    mv -f "$model_output.part" "$model_output"
    say "wrote $model_output ($(du -h "$model_output" | cut -f1)): ${model_files[*]} from $model_dir"
fi
trap - EXIT
