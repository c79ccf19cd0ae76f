#!/usr/bin/env bash
# The runner's own overhead per cell: wall time of `matrix run` minus the
# time spent waiting on engine processes (startup, one_batch, clients, cache
# flushes, shutdown), over the cells run. Against the simulator with
# MATRIX_SIM_TIME_SCALE=0, so the engine side is as short as it gets.
#   scripts/bench-runner.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/matrix"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r conf model_conf matrices "$tmp/"
cd "$tmp"
export MATRIX_SIM_TIME_SCALE=0

# Latency: one one_batch process, 40 batch sizes x 25 lengths = 1000 cells.
python3 -c "print(','.join(str(i) for i in range(1, 41)) + ';' + ','.join(str(16 * i) for i in range(1, 26)))" >big.csv
# Serving: one server, 50 cells of 4 tiny requests each.
seeds=$(seq -s, 1 50)
cat >serve.yaml <<YAML
axes:
  model: qwen
  mconf: 2l
  mode: serving
  deploy: tp8ep8
  seed: [$seeds]
set:
  workload: {seq: 16, output_len: 4, num_prompts: 4, request_rate: inf, warmup_requests: 0}
YAML

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for i in 1 2 3; do
  "$bin" run --engine sim --model qwen --mconf 2l --deploy tp8ep8 --bsz-seq big.csv \
    --set output_len=4 --run-name "lat$i" -q 2>&1 | grep -o 'runner overhead.*' | sed 's/^/latency 1000 cells: /'
done
for i in 1 2 3; do
  "$bin" run --engine sim --matrix serve.yaml --set run.port="$port" --run-name "srv$i" -q 2>&1 \
    | grep -o 'runner overhead.*' | sed 's/^/serving   50 cells: /'
done
