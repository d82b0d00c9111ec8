#!/usr/bin/env bash
# The whole training pipeline, end to end (see training/README.md): teacher signal,
# three training stages, int8 export (scripts in pipeline/), then the figures that go into
# docs/models.md (evaluation/ and bench/).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3   # Debian's python3-torch; a pyenv/venv python would not see it
# Fail in one line, before two hours of work, when a dependency is missing.
if ! $PY -c "import torch, torchvision, onnx, PIL" 2>/dev/null; then
  echo "run.sh: $PY cannot import torch, torchvision, onnx and PIL: apt-get install -y python3-torch python3-torchvision python3-onnx python3-pil" >&2
  exit 1
fi
[ -d node_modules/onnxruntime-node ] || { echo "run.sh: run npm ci first (pipeline/teacher-views.ts runs the teacher through skulens)" >&2; exit 1; }
# glibc hands PyTorch's large freed buffers back to the kernel and faults them in again on
# the next step (a third of the CPU time in the kernel); keeping them in the heap made a
# function-matching step 2.0 s instead of 2.8-3.3 s here (pipeline/function_matching.py --bench 15,
# two pairs). train.py's steps did not change beyond noise; jemalloc was slower (4.5 s).
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=1073741824
# OUT: where the int8 model goes. The default replaces the shipped file; give another path
# to re-run the pipeline without touching it (e.g. OUT=training/cache/rerun.onnx).
OUT=$(realpath -m "${OUT:-models/skulens-retail-160.onnx}")

start=$(date +%s)
# Stage 1: 16 teacher views per image, 36 epochs from random weights.
npx tsx training/pipeline/teacher-views.ts --views 16 --seed 1
(cd training && $PY pipeline/train.py --views cache/views-16 --epochs 36 --seed 1 --out cache/stage1.pt)
# Stage 2: 48 fresh views per image, 45 more epochs from stage 1 (a warm restart of the schedule).
npx tsx training/pipeline/teacher-views.ts --views 48 --seed 2
(cd training && $PY pipeline/train.py --init cache/stage1.pt --views cache/views-48 --epochs 45 --lr 2e-3 --proxy-weight 0.1 --seed 2 --out cache/student.pt)
(cd training && $PY pipeline/monitor.py --checkpoint cache/student.pt)
# Stage 3: function matching - the teacher queried online on fresh crops, colour jitter and
# mixup that both networks see; 1300 steps from stage 2.
(cd training && $PY pipeline/function_matching.py --init cache/student.pt --views cache/views-16 --steps 1300 --seed 1 --out cache/fm.pt)
(cd training && $PY pipeline/monitor.py --checkpoint cache/fm.pt)
(cd training && $PY pipeline/quantize.py --checkpoint cache/fm.pt --out "$OUT")
echo "pipeline: $(( ($(date +%s) - start) / 60 )) min"
npx tsx training/evaluation/select.ts --model "$OUT"   # held-out classes, val and train split-half (no test/)
npm run bench:models -- --model "$OUT"
