#!/usr/bin/env bash
# Benchmark matrix's load generator (`matrix bench serving`) on this machine.
#
# Starts an unthrottled server, then:
#   1. sweeps --request-rate and reports send lateness (p99, max) and the
#      streamed tokens/s the client sustained at each rate;
#   2. start-up: `matrix` entry to first request (startup_ms), and the wall
#      time of a whole one-request process;
#   3. CPU time per streamed token, as the load-generator target defines it:
#      backend sglang, 4000 prompts x 256 output tokens, concurrency 256;
#      process CPU (user+sys) of that run minus a one-request run, divided by
#      the 1 024 000 tokens; three runs (CPU_RUNS).
# Server: TARGET=sse (default) is the SSE server of benches/bench_sse_server.rs;
# TARGET=sim is `matrix sim launch-server` at MATRIX_SIM_TIME_SCALE=0 (real
# scheduler, real SGLang stream shapes, no sleeps).
# Usage: [TARGET=sim] scripts/bench-client.sh [OUTPUT_LEN]   (results also in $OUT_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_LEN=${1:-64}
OUT_DIR=${OUT_DIR:-$(mktemp -d)}

cargo build --release --bin matrix -q
MATRIX=target/release/matrix
TARGET=${TARGET:-sse}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$TARGET" = sim ]; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  MATRIX_SIM_TIME_SCALE=0 setsid "$MATRIX" sim launch-server --model-path tests/fixtures/sim/qwen3-2l \
    --port "$PORT" --max-running-requests 4096 2>"$OUT_DIR/server.log" &
  SERVER_PID=$!
  trap 'kill -- -"$SERVER_PID" 2>/dev/null || true' EXIT
  URL="http://127.0.0.1:$PORT"
  until curl -sf "$URL/health" >/dev/null; do sleep 0.05; done
else
  SERVER=$(cargo bench --no-run --bench bench_sse_server --message-format=json 2>/dev/null \
    | jq -r 'select(.executable != null and .target.name == "bench_sse_server") | .executable')
  "$SERVER" 0 > "$OUT_DIR/url" &
  SERVER_PID=$!
  trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do [ -s "$OUT_DIR/url" ] && break; sleep 0.1; done
  URL=$(head -1 "$OUT_DIR/url")
fi
echo "server ($TARGET): $URL   output tokens/request: $OUT_LEN   results: $OUT_DIR"

run() { # rate num_prompts extra...
  local rate=$1 n=$2; shift 2
  "$MATRIX" bench serving --base-url "$URL" --disable-tqdm --num-prompts "$n" \
    --random-input-len 32 --random-output-len "$OUT_LEN" --random-range-ratio 1.0 \
    --request-rate "$rate" --output-file "$OUT_DIR/r.jsonl" "$@" > "$OUT_DIR/last.txt"
  tail -1 "$OUT_DIR/r.jsonl" | sed 's/: Infinity/: null/g; s/: NaN/: null/g'
}

echo
echo "== rate sweep (5 s of arrivals each, capped at 20000 requests) =="
printf "%10s %10s %12s %12s %12s %14s\n" rate completed late_p99_ms late_max_ms req_per_s out_tok_per_s
for rate in ${RATES:-100 250 500 1000 2000}; do
  n=$(( rate * 5 )); [ $n -gt 20000 ] && n=20000
  run "$rate" "$n" | jq -r --arg r "$rate" \
    '[$r, .completed, (.schedule_lateness_p99_ms*1000|round/1000), (.schedule_lateness_max_ms*1000|round/1000), (.request_throughput|round), (.output_throughput|round)] | @tsv' \
    | xargs printf "%10s %10s %12s %12s %12s %14s\n" || echo "$rate: run failed"
done

echo
echo "== start-up =="
for i in 1 2 3; do
  t0=$(date +%s%N)
  s=$(run inf 1 --warmup-requests 0 | jq -r '.startup_ms')
  t1=$(date +%s%N)
  echo "entry->first request: ${s} ms   whole 1-request process: $(( (t1 - t0) / 1000000 )) ms"
done

echo
echo "== CPU per streamed token =="
cpu() { /usr/bin/time -f "%U %S" -o "$OUT_DIR/time" "$@" > /dev/null; awk '{print $1 + $2}' "$OUT_DIR/time"; }
BIG_N=4000; BIG_OUT=256; BIG_C=256
tokens=$(( BIG_N * BIG_OUT ))
for _ in $(seq "${CPU_RUNS:-3}"); do
  small=$(cpu "$MATRIX" bench serving --backend sglang --base-url "$URL" --disable-tqdm --num-prompts 1 \
    --warmup-requests 0 --random-input-len 32 --random-output-len 1 --random-range-ratio 1.0)
  big=$(cpu "$MATRIX" bench serving --backend sglang --base-url "$URL" --disable-tqdm --num-prompts $BIG_N \
    --warmup-requests 0 --random-input-len 32 --random-output-len $BIG_OUT --random-range-ratio 1.0 \
    --max-concurrency $BIG_C)
  awk -v b="$big" -v s="$small" -v t="$tokens" -v n="$BIG_N x $BIG_OUT @ c=$BIG_C" \
    'BEGIN { printf "cpu(1 request)=%ss  cpu(%s)=%ss  CPU per streamed token: %.2f us\n", s, n, b, (b - s) / t * 1e6 }'
done
