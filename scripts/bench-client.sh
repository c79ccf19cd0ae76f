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
#      the 1 024 000 tokens; three runs (CPU_RUNS). When SGLang's package is
#      installed (ENGINES_VENV), its Python and Rust clients run the same
#      flags in the same runs, and a table compares them with matrix.
# Server: TARGET=sse (default) is the SSE server of benches/bench_sse_server.rs;
# TARGET=sim is `matrix sim launch-server` at MATRIX_SIM_TIME_SCALE=0 (real
# scheduler, real SGLang stream shapes, no sleeps).
# Usage: [TARGET=sim] [RATES="100 250"] [CPU_RUNS=3] [ENGINES_VENV=dir]
#        scripts/bench-client.sh [OUTPUT_LEN]      (RATES="" skips the sweep;
#        results also in $OUT_DIR)
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
for rate in ${RATES-100 250 500 1000 2000}; do
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
# Every client gets the same flags against the same server, twice: one
# request (start-up and fixed costs; its wall time is the whole process's
# start-up), then the big run. CPU per token = (user+sys of the big run -
# user+sys of the one-request run) / tokens. With SGLang 0.5.23's package in
# $ENGINES_VENV (default ~/.cache/matrix-ci/engines/venv, built by
# scripts/setup-real-engines.sh), its Python client (sglang.benchmark.serving)
# and its Rust client (sglang.benchmark.rust_client) run too. They need a
# tokenizer even for random-ids: a 257-token byte-level one is generated
# locally (nothing is downloaded); with --tokenize-prompt they send
# input_ids, as matrix does. They also re-tokenize the generated text with
# it (matrix does not); sglang-rust-noretok shows the Rust client without.
BIG_N=4000; BIG_OUT=256; BIG_C=256
tokens=$(( BIG_N * BIG_OUT ))
COMMON=(--backend sglang --base-url "$URL" --disable-tqdm --warmup-requests 0
  --dataset-name random-ids --random-input-len 32 --random-range-ratio 1.0)
SMALL=(--num-prompts 1 --random-output-len 1)
BIG=(--num-prompts "$BIG_N" --random-output-len "$BIG_OUT" --max-concurrency "$BIG_C")
cmd_matrix=("$MATRIX" bench serving)
CLIENTS=(matrix)
VENV=${ENGINES_VENV:-$HOME/.cache/matrix-ci/engines/venv}
if [ -x "$VENV/bin/python" ]; then
  TOK="$OUT_DIR/tokenizer"
  mkdir -p "$TOK"
  "$VENV/bin/python" - "$TOK" <<'PY'
import json, sys
from tokenizers import Tokenizer, decoders, models
from tokenizers.pre_tokenizers import ByteLevel
d = sys.argv[1]
vocab = {"<|endoftext|>": 0}
for c in sorted(ByteLevel.alphabet()):
    vocab[c] = len(vocab)
tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
tok.pre_tokenizer = ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.save(f"{d}/tokenizer.json")
json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>",
           "pad_token": "<|endoftext|>", "model_max_length": 1000000},
          open(f"{d}/tokenizer_config.json", "w"))
PY
  SGL=(--tokenizer "$TOK" --tokenize-prompt)
  cmd_sglang_python=(env HF_HUB_OFFLINE=1 "$VENV/bin/python" -m sglang.benchmark.serving "${SGL[@]}")
  cmd_sglang_rust=(env HF_HUB_OFFLINE=1 "$VENV/bin/python" -m sglang.benchmark.rust_client "${SGL[@]}")
  cmd_sglang_rust_noretok=("${cmd_sglang_rust[@]}" --disable-retokenize)
  CLIENTS+=(sglang-python sglang-rust sglang-rust-noretok)
else
  echo "(no $VENV/bin/python: SGLang's clients skipped; set ENGINES_VENV or run scripts/setup-real-engines.sh)"
fi

measure() { # client size-args... -> "cpu_s wall_ms output_tok_per_s"
  local -n cmd="cmd_${1//-/_}"
  local name=$1; shift
  local out="$OUT_DIR/$name.jsonl" t0 t1 tps
  rm -f "$out"
  t0=$(date +%s%N)
  if ! /usr/bin/time -f "%U %S" -o "$OUT_DIR/time" "${cmd[@]}" "${COMMON[@]}" \
      --output-file "$out" "$@" > "$OUT_DIR/$name.log" 2>&1; then
    echo "$name failed (exit $?): see $OUT_DIR/$name.log" >&2
    return 1
  fi
  t1=$(date +%s%N)
  tps=$(tail -1 "$out" | sed 's/: Infinity/: null/g; s/: NaN/: null/g' | jq -r '.output_throughput // 0')
  awk -v t="$tps" -v w=$(( (t1 - t0) / 1000000 )) '{print $1 + $2, w, t}' "$OUT_DIR/time"
}

: > "$OUT_DIR/cpu.tsv"
for run in $(seq "${CPU_RUNS:-3}"); do
  for c in "${CLIENTS[@]}"; do
    small=$(measure "$c" "${SMALL[@]}") || continue
    big=$(measure "$c" "${BIG[@]}") || continue
    read -r s_cpu s_wall _ <<< "$small"
    read -r b_cpu _ tps <<< "$big"
    awk -v c="$c" -v r="$run" -v s="$s_cpu" -v w="$s_wall" -v b="$b_cpu" -v t="$tokens" -v tps="$tps" \
      -v n="$BIG_N x $BIG_OUT @ c=$BIG_C" -v tsv="$OUT_DIR/cpu.tsv" 'BEGIN {
        us = (b - s) / t * 1e6
        printf "%-20s run %s: cpu(1 request)=%.2fs (process %d ms wall)  cpu(%s)=%.2fs  %.2f us/token  %.0f tok/s\n", c, r, s, w, n, b, us, tps
        printf "%s\t%.4f\t%.1f\t%d\n", c, us, tps, w >> tsv }'
  done
done

echo
echo "-- medians over runs (ratio: client / matrix; start-up = one-request process wall time) --"
median() { sort -g | awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
col() { awk -F'\t' -v c="$1" -v k="$2" '$1 == c {print $k}' "$OUT_DIR/cpu.tsv" | median; }
m_us=$(col matrix 2); m_tps=$(col matrix 3)
printf "%-20s %10s %8s %12s %8s %12s\n" client us/token ratio tok/s ratio start-up_ms
for c in "${CLIENTS[@]}"; do
  us=$(col "$c" 2); tps=$(col "$c" 3); w=$(col "$c" 4)
  [ -n "$us" ] || continue
  awk -v c="$c" -v us="$us" -v tps="$tps" -v w="$w" -v mu="$m_us" -v mt="$m_tps" 'BEGIN {
    printf "%-20s %10.2f %8.2f %12.0f %8.2f %12d\n", c, us, (mu > 0 ? us / mu : 0), tps, (mt > 0 ? tps / mt : 0), w }'
done
