#!/usr/bin/env bash
# Retrain every shipped network from scratch, in dependency order. Each step resumes where it
# stopped (shards are skipped when written, training continues from its checkpoint), so the
# script can be re-run after an interruption. On the 2-core development machine: at most
# 7 h 10 min (sampling 3 to 6 minutes, imitator at most 55, extractor 50, predictor 55, brow
# reader 45, controls reader 50 + 50 + 30, the eye reader 60 on one core beside the mouth and
# ear readers one after the other, 35 + 45, on the other), each other network on both cores
# in turn. Rig 3 at most 4 h 20 min: sampling 5 minutes, imitator 55, extractor 53 (from rig
# 2.2's), predictor 56, brow reader 56, the attribute reader a minute; no controls or close
# readers (its shape comes from the photo's landmarks).
#
#   tools/train_all.sh                 # the reference rig (rig 2.2) into weights/
#   FACEFIT_RIG=human tools/train_all.sh  # rig 3 into weights/human/ (its data: data/human256)
#   DATA=data/mygame tools/train_all.sh  # shards imported with `facefit rig import`
#   DATA=data/mygame BROW_GROUP=brows tools/train_all.sh  # its brow-style group (or "")
#   DATA=data/mygame CLOSE_READERS= tools/train_all.sh  # a rig without the reference's
#                                                       # brow, lid, nose-tip, lip and ear
#                                                       # controls
#
# MINUTES bounds each training run (default 56); the step counts fit it.
#
# After a rig revision that changes, adds or drops a few controls or options (the weights are
# carried over by name, facefit/train/grow.py), INIT_FROM fine-tunes each network from
# that folder's file at a lower learning rate and for fewer steps (about 1 h 30 min in all)
# and keeps the extractor, as rig 2.2's networks were tuned from rig 2.1's (the old rig's
# shards and checkpoints must go first: sampling refuses a folder of another rig, and a
# resumed checkpoint would continue the old run):
#
#   cp -r weights var/weights-before && rm -rf data/rig256 var/checkpoints
#   INIT_FROM=var/weights-before tools/train_all.sh
#
# Rig 3 the same way (3.0 -> 3.1, its framing, took about 50 minutes on both cores):
#
#   cp -r weights/human var/weights-before && rm -rf data/human256 var/checkpoints
#   FACEFIT_RIG=human INIT_FROM=var/weights-before tools/train_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FACEFIT=".venv/bin/facefit"
# Each rig has its own shards and weights folder (facefit.settings follows FACEFIT_RIG too);
# the close readers name rig 2.2's controls, so rig 3 goes without them.
if [[ "${FACEFIT_RIG:-reference}" == human ]]; then
  DATA=${DATA:-data/human256}
  OUT=${OUT:-weights/human}
  CLOSE_READERS=${CLOSE_READERS-}
  # from rig 2.2's extractor; a rig-3 revision (INIT_FROM) keeps rig 3's, as rig 2.2's does
  if [[ -z "${INIT_FROM:-}" ]]; then EXTRACTOR_INIT=${EXTRACTOR_INIT-weights/extractor-lite.pt}; fi
  PREDICTOR_STEPS=${PREDICTOR_STEPS:-3000}  # 56 minutes on one core beside other work
  # rig 3's face shape is solved from the photo's landmarks (facefit.fit.shape) and its
  # sex, age and ethnic form read by the attribute reader, not by a controls reader
  CONTROLS_READER=${CONTROLS_READER-}
  ATTRIBUTES=${ATTRIBUTES-1}
else
  DATA=${DATA:-data/rig256}
  OUT=${OUT:-weights}
fi
PREDICTOR_STEPS=${PREDICTOR_STEPS:-4500}
N=${N:-16000}
MINUTES=${MINUTES:-56}
mkdir -p var/train

# steps, then extra flags, for a network: from scratch, or fine-tuned from $INIT_FROM
plan() {  # FILE STEPS FINE_STEPS FINE_LR
  if [[ -n "${INIT_FROM:-}" ]]; then
    echo "--steps $3 --lr $4 --init $INIT_FROM/$1"
  else
    echo "--steps $2"
  fi
}

if [[ ! -f "$DATA/meta.json" ]] || [[ -n "${RESAMPLE:-}" ]]; then
  # rendered at 256 px and area-averaged to the networks' 128 px when loaded: the rig's
  # edge filter alone leaves small features jagged at 128 px
  $FACEFIT rig sample --n "$N" --seed 1 --size 256 --out "$DATA" --resume
fi

OMP_NUM_THREADS=2 $FACEFIT train imitator --config lite --data "$DATA" --out "$OUT" \
  $(plan imitator-lite.pt 10000 2500 5e-4) --max-minutes "$MINUTES" --resume \
  2> var/train/imitator.log

# Two threads: about 3.8 steps a second with the data augmented in the loop, 11,000 steps in
# 50 minutes (the render mIoU was still rising at 6,400 steps on one thread). With INIT_FROM
# the extractor is kept as it is in $OUT: it knows the rig's label classes, not its controls,
# and fine-tuning it for rig 2.2 cost the fits identity on photos (docs/benchmarks.md).
# Rig 3's extractor starts from rig 2.2's (EXTRACTOR_INIT): the same eleven label classes on
# the same photos, so it learns the new head's renders in 5,000 steps at half the rate (46
# minutes on one core) and keeps what it knows of photos.
if [[ -n "${EXTRACTOR_INIT:-}" ]]; then
  OMP_NUM_THREADS=2 $FACEFIT train extractor --config lite --renders "$DATA" --out "$OUT" \
    --init "$EXTRACTOR_INIT" --lr 1e-3 --steps 5000 --max-minutes "$MINUTES" --resume \
    2> var/train/extractor.log
elif [[ -z "${INIT_FROM:-}" ]]; then
  OMP_NUM_THREADS=2 $FACEFIT train extractor --config lite --renders "$DATA" --out "$OUT" \
    --steps 11000 --max-minutes "$MINUTES" --resume 2> var/train/extractor.log
fi

# The predictor reads the extractor's features and class probabilities, so it trains after
# it, on both cores (about 0.7 s a step, 4,500 steps in 54 minutes on the slower of the
# development machines).
OMP_NUM_THREADS=2 $FACEFIT train predictor --config lite --data "$DATA" --out "$OUT" \
  $(plan predictor-lite.pt "$PREDICTOR_STEPS" 1500 5e-4) --max-minutes "$MINUTES" --resume \
  2> var/train/predictor.log

# The brow reader reads the aligned frame itself, so it needs no other network (about 2
# steps a second, 5,000 steps in 42 minutes). BROW_GROUP names the rig's brow-style group;
# empty skips the reader (a rig without one).
BROW_GROUP=${BROW_GROUP-eyebrow_style}
if [[ -n "$BROW_GROUP" ]]; then
  OMP_NUM_THREADS=2 $FACEFIT train detail --config brows --group "$BROW_GROUP" --data "$DATA" \
    --out "$OUT" $(plan detail-brows.pt 5000 2500 1e-3) --max-minutes "$MINUTES" --resume \
    2> var/train/detail.log
fi

# The controls reader reads the aligned frame's pixels, so it needs no other network either
# (2 to 3 steps a second on both cores). From scratch it trains in three runs that each fit
# the time bound: 6,000 steps, then 6,000 more from those weights with the schedule started
# again at half the rate, then 4,000 more at a quarter of it, while the held-out error is
# still falling. Each later run keeps its checkpoint in its own folder, so that a resume
# continues the run it belongs to.
if [[ -z "${CONTROLS_READER-1}" ]]; then
  :  # this rig goes without one
elif [[ -n "${INIT_FROM:-}" ]]; then
  OMP_NUM_THREADS=2 $FACEFIT train controls --config lite --data "$DATA" --out "$OUT" \
    $(plan controls-lite.pt 6000 2000 1e-3) --max-minutes "$MINUTES" --resume \
    2> var/train/controls.log
else
  FIRST=var/train/controls-first
  OMP_NUM_THREADS=2 $FACEFIT train controls --config lite --data "$DATA" --out "$FIRST" \
    --steps 6000 --max-minutes "$MINUTES" --resume 2> var/train/controls.log
  SECOND=var/train/controls-second-out
  OMP_NUM_THREADS=2 FACEFIT_VAR_DIR=var/train/controls-second $FACEFIT train controls \
    --config lite --data "$DATA" --out "$SECOND" --init "$FIRST/controls-lite.pt" --lr 1e-3 \
    --seed 1 --steps 6000 --max-minutes "$MINUTES" --resume 2> var/train/controls-second.log
  OMP_NUM_THREADS=2 FACEFIT_VAR_DIR=var/train/controls-third $FACEFIT train controls \
    --config lite --data "$DATA" --out "$OUT" --init "$SECOND/controls-lite.pt" --lr 5e-4 \
    --seed 2 --steps 4000 --max-minutes "$MINUTES" --resume 2> var/train/controls-third.log
fi

# The close readers of continuous controls (`facefit.nets.detail`: brows and eyes, nose tip
# and mouth, ears) name the reference rig's controls; CLOSE_READERS="" skips them. They read
# the aligned frame alone, one core each: the eye reader about 1 step a second (4,000 steps
# in 60 minutes with its 1,000 held-out faces measured every 500 steps) on the first core,
# the others one after the other on the second (the mouth reader twice as fast, the ear
# reader 1.5 times).
train_reader() {  # CORE CONFIG
  OMP_NUM_THREADS=1 taskset -c "$1" $FACEFIT train detail --config "$2" --data "$DATA" \
    --out "$OUT" $(plan "detail-$2.pt" 4000 1500 1e-3) --max-minutes 65 --resume \
    2> "var/train/detail-$2.log"
}
read -ra readers <<< "${CLOSE_READERS-eyes mouth ears}"
pids=()
if (( ${#readers[@]} )); then
  train_reader 0 "${readers[0]}" &
  pids+=($!)
  (for reader in "${readers[@]:1}"; do train_reader 1 "$reader"; done) &
  pids+=($!)
fi
for pid in "${pids[@]}"; do wait "$pid"; done  # a failed run stops the script (set -e)

# The attribute reader: linear heads over dlib's descriptor of the labelled shared photos
# (about a minute), for a rig with MakeHuman's macro controls.
# The expression basis: how a smile moves the aligned landmarks (seconds), for a rig whose
# shape is solved from them; and the recogniser's response to that shape, measured on real
# renders (about 12 minutes on one core); last the descriptor imitator, which predicts dlib's
# reading of a character from its parameters (the shared photos fitted by the networks above,
# then 12,000 real renders read by dlib: about 15 minutes on one core).
if [[ -n "${ATTRIBUTES:-}" ]]; then
  $FACEFIT train attributes --out "$OUT" 2> var/train/attributes.log
  $FACEFIT train expressions --out "$OUT" 2> var/train/expressions.log
  $FACEFIT train recognition --out "$OUT" 2> var/train/recognition.log
  rm -rf var/train/descriptor  # its samples belong to the networks they were fitted with
  $FACEFIT train descriptor --out "$OUT" --work var/train/descriptor 2> var/train/descriptor.log
fi

echo "trained; now calibrate the fit for these networks:" >&2
echo "  FACEFIT_WEIGHTS_DIR=$OUT OMP_NUM_THREADS=2 .venv/bin/facefit calibrate" >&2
echo "(writes $OUT/calibration.json: the stopping rule and which network owns which control)" >&2
