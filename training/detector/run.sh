#!/usr/bin/env bash
# The built-in shelf detector's whole pipeline (see training/detector/README.md): train on
# synthetic shelves for a wall-clock budget (resumable: run this again after an interruption
# and it continues from cache/shelf.pt), export fp32, quantize to int8, then report AP50 against
# the reference detector on the 16 SKU-110K photos (evaluation only).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3   # Debian's python3-torch; a pyenv/venv python would not see it
if ! $PY -c "import torch, torchvision, onnx, PIL, numpy" 2>/dev/null; then
  echo "run.sh: $PY cannot import torch, torchvision, onnx, PIL and numpy: apt-get install -y python3-torch python3-torchvision python3-onnx python3-pil python3-numpy" >&2
  exit 1
fi
[ -d node_modules/onnxruntime-node ] || { echo "run.sh: run npm ci first (calibration and evaluation run the model with onnxruntime-node)" >&2; exit 1; }
# Keep PyTorch's freed buffers in the heap (see training/run.sh for the measurement).
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=1073741824
# OUT: where the int8 model goes; the default replaces the shipped file.
OUT=$(realpath -m "${OUT:-models/skulens-shelf.onnx}")
MINUTES=${MINUTES:-78}
CKPT=${CKPT:-training/detector/cache/shelf.pt}

start=$(date +%s)
# Stage 1: training (checkpoint every 10 min; the LR schedule follows the wall-clock budget).
(cd training/detector && $PY train.py --minutes "$MINUTES" --out "$(realpath -m "../../$CKPT")")
# Stage 2: fp32 export to training/detector/cache/skulens-shelf-fp32.onnx, int8 to $OUT.
(cd training/detector && $PY quantize_int8.py --checkpoint "$(realpath -m "../../$CKPT")" --out "$OUT")
echo "pipeline: $(( ($(date +%s) - start) / 60 )) min"
# Stage 3: the report (never feeds back into training).
npx tsx training/detector/eval-shelf.ts --model "$OUT" --model training/detector/cache/skulens-shelf-fp32.onnx --json training/detector/cache/eval.json
