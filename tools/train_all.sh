#!/usr/bin/env bash
# Retrain every shipped network from scratch, in dependency order. Each step resumes where it
# stopped (shards are skipped when written, training continues from its checkpoint), so the
# script can be re-run after an interruption. On the 2-core development machine: at most
# 3 h 35 min (sampling 3 to 6 minutes, imitator at most 55, extractor 50, predictor 55, brow
# reader 45), each network on both cores in turn.
#
#   tools/train_all.sh                 # the reference rig
#   DATA=data/mygame tools/train_all.sh  # shards imported with `facefit rig import`
#   DATA=data/mygame BROW_GROUP=brows tools/train_all.sh  # its brow-style group (or "")
#
# MINUTES bounds each training run (default 56); the step counts fit it.
set -euo pipefail
cd "$(dirname "$0")/.."
FACEFIT=".venv/bin/facefit"
DATA=${DATA:-data/rig256}
N=${N:-16000}
MINUTES=${MINUTES:-56}
OUT=${OUT:-weights}
mkdir -p var/train

if [[ ! -f "$DATA/meta.json" ]] || [[ -n "${RESAMPLE:-}" ]]; then
  # rendered at 256 px and area-averaged to the networks' 128 px when loaded: the rig's
  # edge filter alone leaves small features jagged at 128 px
  $FACEFIT rig sample --n "$N" --seed 1 --size 256 --out "$DATA" --resume
fi

OMP_NUM_THREADS=2 $FACEFIT train imitator --config lite --data "$DATA" --out "$OUT" \
  --steps 10000 --max-minutes "$MINUTES" --resume 2> var/train/imitator.log

# Two threads: about 3.8 steps a second with the data augmented in the loop, 11,000 steps in
# 50 minutes (the render mIoU was still rising at 6,400 steps on one thread).
OMP_NUM_THREADS=2 $FACEFIT train extractor --config lite --renders "$DATA" --out "$OUT" \
  --steps 11000 --max-minutes "$MINUTES" --resume 2> var/train/extractor.log

# The predictor reads the extractor's features and class probabilities, so it trains after
# it, on both cores (about 0.7 s a step, 4,500 steps in 54 minutes on the slower of the
# development machines).
OMP_NUM_THREADS=2 $FACEFIT train predictor --config lite --data "$DATA" --out "$OUT" \
  --steps 4500 --max-minutes "$MINUTES" --resume 2> var/train/predictor.log

# The brow reader reads the aligned frame itself, so it needs no other network (about 2
# steps a second, 5,000 steps in 42 minutes). BROW_GROUP names the rig's brow-style group;
# empty skips the reader (a rig without one).
BROW_GROUP=${BROW_GROUP-eyebrow_style}
if [[ -n "$BROW_GROUP" ]]; then
  OMP_NUM_THREADS=2 $FACEFIT train detail --config brows --group "$BROW_GROUP" --data "$DATA" \
    --out "$OUT" --steps 5000 --max-minutes "$MINUTES" --resume 2> var/train/detail.log
fi

echo "trained; now re-calibrate the fit's stopping rule for these networks:" >&2
echo "  FACEFIT_WEIGHTS_DIR=$OUT OMP_NUM_THREADS=2 .venv/bin/python bench/calibrate_fit.py --iters 4,6,8,12 --save" >&2
echo "(writes $OUT/calibration.json, which the fitter applies to these networks)" >&2
