#!/usr/bin/env bash
# False-positive and power figures of `matrix compare` on the simulator
# (docs/PERFORMANCE.md): A/A and a planted 5 % slowdown on half the cells,
# 24 cells, repeats 5, noise CV 2 %, over STAT_SEEDS seed pairs (default 100).
# It drives the real binary through the ignored test `figures_over_seeds`
# in tests/stats_acceptance.rs (each `matrix run` writes the results
# database itself); it takes minutes. Usage: scripts/stat-figures.sh [SEEDS]
set -euo pipefail
cd "$(dirname "$0")/.."
export STAT_SEEDS="${1:-${STAT_SEEDS:-100}}"
if [ "$STAT_SEEDS" -lt 100 ]; then
  echo "note: $STAT_SEEDS seed pairs (fewer than the 100 of docs/PERFORMANCE.md)"
fi
exec cargo test --test stats_acceptance -- --ignored --exact figures_over_seeds --nocapture
