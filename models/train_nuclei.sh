#!/usr/bin/env bash
# Rebuild the bundled nuclei segmenter (models/nuclei.pt) with the kit's own command, and score its recipe.
# Data: the 10 real MoNuSeg images with nuclei masks in ../shared/data/nuclei/monuseg (40x, 0.25 um/px).
# Five folds by image: each fold's U-Net trains on 8 images and is scored on the 2 it never saw, through
# the container's own inference, so every image is scored once (report.json: per image and pooled): the
# recipe's estimate. Then the same recipe once more on all ten images (--fold none -> all/model.pt): the
# bundled model, which has no image of these left to be scored on.
# CPU: 6-13 minutes per model on 2 cores, by the day's machine (1200 steps of 8 crops of 192 px at 0.5 um/px), 6 models.
#   models/train_nuclei.sh [RUN_DIR]     (default runs/nuclei)
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:-runs/nuclei}"
data="${KIT_SHARED:-../shared}/data/nuclei/monuseg"
.venv/bin/python -m training nuclei --images "$data/images" --masks "$data/masks" \
    --folds 5 --fold all --steps 1200 --batch-size 8 --crop 192 --lr 3e-3 --seed 0 --out "$run"
.venv/bin/python -m training nuclei --images "$data/images" --masks "$data/masks" \
    --folds 5 --fold none --steps 1200 --batch-size 8 --crop 192 --lr 3e-3 --seed 0 --out "$run"
echo "to bundle: cp $run/all/model.pt models/nuclei.pt"
