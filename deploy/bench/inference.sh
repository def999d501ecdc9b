#!/usr/bin/env bash
# Side-by-side encoder throughput: rtcx (f32 and int8) vs PyTorch eager and ONNX Runtime (fp32
# and dynamic int8 per-channel), same texts, same MiniLM weights, length-sorted batches, 2 threads.
#
#   deploy/bench/inference.sh [TEXTS_FILE] [BATCH] [RUNS]
#
# Defaults: the 356 committed tweets, batches of 16, 3 consecutive runs. Each run measures every
# engine once and prints its table with the issue's two ratios (rtcx int8 / ONNX Runtime int8,
# rtcx int8 / rtcx f32, both for the service's default setting of 2 instances x 1 thread); a
# summary of all runs closes the output.
#
# Needs the stack's model (deploy/dev.sh up). Creates a Python venv with torch, transformers
# and onnxruntime under $RTCX_CACHE_DIR/peers-venv on first use (~6 GB: PyPI's torch wheel
# pulls CUDA libraries), so it is not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${RTCX_CACHE_DIR:-/var/cache/rtcx}"
TEXTS="${1:-model/tests/data/sentiment-tweeteval.tsv}"
BATCH="${2:-16}"
RUNS="${3:-3}"
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
unset RTCX_HEADS_DIR RTCX_PRECISION

for run in $(seq 1 "$RUNS"); do
  echo "== run $run of $RUNS"
  for p in f32 int8; do
    "$BIN" bench --precision "$p" --texts "$TEXTS" --batch-sizes "$BATCH" --passes 3 | tee "$OUT/$run-$p-1x2.txt"
    RAYON_NUM_THREADS=1 "$BIN" bench --precision "$p" --texts "$TEXTS" --batch-sizes "$BATCH" --passes 3 \
      --workers 2 | tee "$OUT/$run-$p-2x1.txt"
  done
  "$VENV/bin/python" deploy/bench/peers.py --model-dir "$RTCX_MODEL_DIR" --texts "$TEXTS" --batch "$BATCH" \
    --threads 2 --passes 3 --work-dir "$CACHE/peers-onnx" | tee "$OUT/$run-peers.jsonl"
done

python3 - "$OUT" "$RUNS" <<'PY'
import json, re, sys
out, runs = sys.argv[1], int(sys.argv[2])
def rate(path):
    for line in open(path):
        m = re.match(r"\| \d+(?: \(\d+ workers\))? \| ([0-9.]+) \|", line)
        if m:
            return float(m.group(1))
    raise SystemExit(f"no figure in {path}")
summary = []
for run in range(1, runs + 1):
    rows = [(f"rtcx {p}, {name}", rate(f"{out}/{run}-{p}-{cfg}.txt"))
            for p in ("f32", "int8")
            for cfg, name in (("1x2", "1 instance x 2 threads"), ("2x1", "2 instances x 1 thread (the service's default)"))]
    peers = [json.loads(l) for l in open(f"{out}/{run}-peers.jsonl") if l.startswith("{")]
    rows += [(p["engine"], p["texts_per_s"]) for p in peers]
    by = dict(rows)
    f32 = by["rtcx f32, 2 instances x 1 thread (the service's default)"]
    int8 = by["rtcx int8, 2 instances x 1 thread (the service's default)"]
    ort8 = by["onnxruntime-int8-per-channel"]
    print(f"\nrun {run}: {peers[0]['texts']} texts, mean {peers[0]['mean_tokens']} tokens, batch {peers[0]['batch']}, 2 threads\n")
    print("| engine | texts/s | rtcx int8 (2 x 1) / engine |")
    print("|---|---|---|")
    for n, r in rows:
        print(f"| {n} | {r:.1f} | {int8 / r:.2f}x |")
    print(f"\nrun {run}: rtcx int8 / ONNX Runtime int8 per-channel = {int8 / ort8:.2f}x; "
          f"rtcx int8 / rtcx f32 = {int8 / f32:.2f}x")
    summary.append((run, f32, int8, ort8))
print("\n| run | rtcx f32 | rtcx int8 | ONNX Runtime int8 | int8 / ORT int8 | int8 / f32 |")
print("|---|---|---|---|---|---|")
for run, f32, int8, ort8 in summary:
    print(f"| {run} | {f32:.1f} | {int8:.1f} | {ort8:.1f} | {int8 / ort8:.2f}x | {int8 / f32:.2f}x |")
PY
