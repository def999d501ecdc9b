#!/usr/bin/env bash
# Side-by-side encoder throughput: rtcx (candle) vs PyTorch eager and ONNX Runtime (fp32 and
# dynamic int8), same texts, same MiniLM weights, length-sorted batches, 2 threads.
#
#   deploy/bench/inference.sh [TEXTS_FILE] [BATCH]
#
# Needs the stack's model (deploy/dev.sh up). Creates a Python venv with torch, transformers
# and onnxruntime under $RTCX_CACHE_DIR/peers-venv on first use (~6 GB: PyPI's torch wheel
# pulls CUDA libraries), so it is not part of CI. Prints a Markdown table with ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${RTCX_CACHE_DIR:-/var/cache/rtcx}"
TEXTS="${1:-model/tests/data/sentiment-tweeteval.tsv}"
BATCH="${2:-16}"
STATE_ENV="${RTCX_STATE_DIR:-/var/lib/rtcx}/stack.env"
# shellcheck disable=SC1090
[ -f "$STATE_ENV" ] && source "$STATE_ENV"
: "${RTCX_MODEL_DIR:?run deploy/dev.sh up first (RTCX_MODEL_DIR unset)}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"

VENV="$CACHE/peers-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q onnxruntime onnx numpy tokenizers safetensors torch transformers
fi

cargo build -q --release -p rtcx-model
BIN="$CARGO_TARGET_DIR/release/rtcx-model"
OUT="$(mktemp -d)"
unset RTCX_HEADS_DIR
"$BIN" bench --texts "$TEXTS" --batch-sizes "$BATCH" --passes 3 | tee "$OUT/rtcx-1x2.txt"
RAYON_NUM_THREADS=1 "$BIN" bench --texts "$TEXTS" --batch-sizes "$BATCH" --passes 3 --workers 2 | tee "$OUT/rtcx-2x1.txt"
"$VENV/bin/python" deploy/bench/peers.py --model-dir "$RTCX_MODEL_DIR" --texts "$TEXTS" --batch "$BATCH" \
  --threads 2 --passes 3 --work-dir "$CACHE/peers-onnx" | tee "$OUT/peers.jsonl"

python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
def rate(path):
    for line in open(path):
        m = re.match(r"\| \d+(?: \(\d+ workers\))? \| ([0-9.]+) \|", line)
        if m:
            return float(m.group(1))
    raise SystemExit(f"no figure in {path}")
rows = [("rtcx candle, 1 instance x 2 threads", rate(f"{out}/rtcx-1x2.txt")),
        ("rtcx candle, 2 instances x 1 thread (the service's default)", rate(f"{out}/rtcx-2x1.txt"))]
peers = [json.loads(l) for l in open(f"{out}/peers.jsonl") if l.startswith("{")]
rows += [(p["engine"], p["texts_per_s"]) for p in peers]
best = max(r for n, r in rows[:2])
print(f"\n{peers[0]['texts']} texts, mean {peers[0]['mean_tokens']} tokens, batch {peers[0]['batch']}, 2 threads\n")
print("| engine | texts/s | rtcx best / engine |")
print("|---|---|---|")
for n, r in rows:
    print(f"| {n} | {r:.1f} | {best / r:.2f}x |")
PY
