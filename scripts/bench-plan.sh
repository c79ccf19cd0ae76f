#!/usr/bin/env bash
# Planning speed: `matrix plan --json` over 100 000 cells, in both modes.
#   scripts/bench-plan.sh            (builds the release binary first)
# Prints the best and median wall time of 5 runs for each case.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/matrix
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MATRIX_FLAGS=table

# Serving: 100 rates x 100 input lengths x 10 output lengths = 100 000 cells,
# one server, one rendered client command per cell.
python3 - "$tmp" <<'PY'
import sys
d = sys.argv[1]
rates = ", ".join(str(r) for r in range(1, 101))
seqs = ", ".join(str(128 * i) for i in range(1, 101))
ols = ", ".join(str(16 * i) for i in range(1, 11))
open(f"{d}/serving.yaml", "w").write(f"""axes:
  model: qwen
  mconf: 2l
  mode: serving
  deploy: tp8ep8
  request_rate: [{rates}]
  seq: [{seqs}]
  output_len: [{ols}]
derive:
  num_prompts: "{{{{ [300 * request_rate, 2400] | min }}}}"
""")
# Latency: 1000 batch sizes x 100 lengths on one bsz_seq line = 100 000 cells.
bszs = ",".join(str(i) for i in range(1, 1001))
open(f"{d}/bsz_seq.csv", "w").write(f"{bszs};{seqs.replace(' ', '')}\n")
PY

measure() {
  local label=$1; shift
  local times=()
  for _ in 1 2 3 4 5; do
    local t0 t1
    t0=$(date +%s%N)
    "$bin" plan --json --max-cells 100000 "$@" >"$tmp/out.json"
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  local cells
  cells=$(python3 -c "import json,sys; p=json.load(open(sys.argv[1])); print(sum(len(g['cells']) for g in p['groups']))" "$tmp/out.json")
  local sorted
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  printf '%-8s %6d cells  best %5d ms  median %5d ms\n' "$label" "$cells" \
    "$(echo "$sorted" | head -1)" "$(echo "$sorted" | sed -n 3p)"
}

measure serving --matrix "$tmp/serving.yaml"
measure latency --model qwen --mconf 2l --deploy tp8ep8 --bsz-seq "$tmp/bsz_seq.csv"
