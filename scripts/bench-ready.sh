#!/usr/bin/env bash
# Readiness lag of matrix::exec::wait_ready: launch the simulator RUNS times
# with MATRIX_SIM_FAULT=slow_start=SLOW_START, and measure how long after the
# server flips to ready (seen by a reference thread polling /sim/stats every
# ~100 us) wait_ready returns. Prints median / p90 / p99 / max in ms.
# Uses the dev build (the lag is dominated by the poll interval, not by
# code speed), so it needs no release build.
#
#   scripts/bench-ready.sh                      # RUNS=20 SLOW_START=0.2
#   RUNS=50 SLOW_START=0.5 scripts/bench-ready.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export RUNS=${RUNS:-20} SLOW_START=${SLOW_START:-0.2}
cargo bench --quiet --profile dev --bench ready_lag 2>&1 \
    | grep -E '^(runs|ready after|lag)'
