#!/usr/bin/env bash
# Rebuild the bundled tumour segmenter (models/segmenter.pt) and slide models
# (models/slide_model.joblib) from nothing, with the kit's own commands.
# Data: synthetic slides (python -m training synth). Scanners A and B train; C
# validates the segmenter; the slide models train on A/B slides the segmenter
# never saw, and are scored on C and D (never seen by either model).
# Expects data/synth/train and data/synth/valid from models/train_detector.sh.
# CPU: about 45 minutes on 2 cores.
#   models/train_slide_models.sh [RUN_DIR]     (default runs/segmenter-v2)
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:-runs/segmenter-v2}"
py=.venv/bin/python
synth() { "$py" -m training synth --quiet --mitoses 20 --imposters 30 "$@"; }
[[ -d data/synth/train && -d data/synth/valid ]] || { echo "run models/train_detector.sh first (it makes data/synth/train, valid)" >&2; exit 1; }
synth --out data/synth/seg-train --count 4 --seed 6000 --scanner A --label tumour
synth --out data/synth/seg-train --count 4 --seed 6004 --scanner B --label tumour
synth --out data/synth/seg-valid --count 4 --seed 2100 --scanner C --label tumour
for spec in "slides-train 4000 A tumour" "slides-train 4006 A normal" "slides-train 4012 B tumour" \
            "slides-train 4018 B normal" "slides-test 5000 C tumour" "slides-test 5006 C normal" \
            "slides-test 5012 D tumour" "slides-test 5018 D normal"; do
    read -r folder seed scanner label <<<"$spec"
    synth --out "data/synth/$folder" --count 6 --seed "$seed" --scanner "$scanner" --label "$label"
done
"$py" -m training segmenter --train data/synth/train data/synth/seg-train --valid data/synth/valid data/synth/seg-valid \
    --out "$run" --epochs 24 --iterations 60 --batch-size 8 --lr 1e-3 --patience 2 --seed 0
"$py" -m training heatmaps --model "$run/best.pt" --slides data/synth/slides-train --out data/heatmaps/train
"$py" -m training heatmaps --model "$run/best.pt" --slides data/synth/slides-test --out data/heatmaps/test
"$py" -m training classifier --heatmaps data/heatmaps/train --labels data/heatmaps/train/labels.csv \
    --out "$run/slide_model.joblib" --folds 5 --seed 0 \
    --test-heatmaps data/heatmaps/test --test-labels data/heatmaps/test/labels.csv
echo "to bundle: cp $run/best.pt models/segmenter.pt && cp $run/slide_model.joblib models/slide_model.joblib"
