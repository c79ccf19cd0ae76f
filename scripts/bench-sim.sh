#!/usr/bin/env bash
# Streaming throughput of the simulator: CONC concurrent streaming
# /v1/completions requests of TOKENS tokens each, time scale 0 (unthrottled),
# on one release build. Prints served tokens per second, counted by the
# server (/sim/stats generated_tokens) over the client's wall time.
#
#   scripts/bench-sim.sh                 # defaults: CONC=64 TOKENS=4000
#   CONC=256 TOKENS=1000 scripts/bench-sim.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CONC=${CONC:-64}
TOKENS=${TOKENS:-4000}
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
ENDPOINT=${ENDPOINT:-/v1/completions}

cargo build --release --quiet
LOG=$(mktemp)
MATRIX_SIM_TIME_SCALE=0 setsid target/release/matrix sim launch-server \
    --model-path tests/fixtures/sim/qwen3-2l --port "$PORT" --max-running-requests 4096 2>"$LOG" &
SERVER=$!
trap 'kill -- -$SERVER 2>/dev/null || kill $SERVER 2>/dev/null; rm -f "$LOG"' EXIT

until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do sleep 0.05; done

if [ "$ENDPOINT" = /generate ]; then
    BODY="{\"text\": \"hello\", \"sampling_params\": {\"max_new_tokens\": $TOKENS, \"ignore_eos\": true}, \"stream\": true}"
else
    BODY="{\"prompt\": \"hello\", \"max_tokens\": $TOKENS, \"stream\": true, \"ignore_eos\": true}"
fi
stat() { curl -s "http://127.0.0.1:$PORT/sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["generated_tokens"])'; }

BEFORE=$(stat)
START=$(date +%s.%N)
for _ in $(seq "$CONC"); do
    curl -sN -o /dev/null -H 'Content-Type: application/json' -d "$BODY" "http://127.0.0.1:$PORT$ENDPOINT" &
done
wait $(jobs -p | grep -v "^$SERVER\$")
END=$(date +%s.%N)
AFTER=$(stat)

python3 - "$BEFORE" "$AFTER" "$START" "$END" "$CONC" "$TOKENS" <<'PY'
import sys
before, after, start, end, conc, tokens = sys.argv[1:]
n = int(after) - int(before)
dt = float(end) - float(start)
print(f"concurrency={conc} tokens/request={tokens} streamed_tokens={n} wall_s={dt:.2f} tokens_per_s={n / dt:,.0f}")
PY
