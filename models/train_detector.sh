#!/usr/bin/env bash
# Rebuild the bundled reference detector (models/detector.pt) from nothing, with the kit's own commands.
# Data: synthetic slides (python -m training synth). Scanners A and B train, C validates,
# C and D (never seen in training) are the held-out test. CPU: about 50 minutes on 2 cores.
#   models/train_detector.sh [RUN_DIR]     (default runs/detector-v1)
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:-runs/detector-v1}"
py=.venv/bin/python
synth() { "$py" -m training synth --quiet --mitoses 40 --imposters 60 "$@"; }
synth --out data/synth/train --count 8 --seed 1000 --scanner A
synth --out data/synth/train --count 8 --seed 1008 --scanner B
synth --out data/synth/valid --count 3 --seed 2000 --scanner C
synth --out data/synth/test --count 3 --seed 3000 --scanner C
synth --out data/synth/test --count 3 --seed 3003 --scanner D
"$py" -m training detector --train data/synth/train --valid data/synth/valid --out "$run" \
    --epochs 8 --iterations 150 --batch-size 8 --lr 1e-3 --seed 0
"$py" -m training detector-score --model "$run/best.pt" --slides data/synth/test
