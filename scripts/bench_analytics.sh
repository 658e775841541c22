#!/usr/bin/env bash
# Analytics benchmark driver (the "Analytics" section of BENCHMARKS.md): writes two synthetic
# snapshots of N people (default 1,000,000; tests/integration/analytics_scale.rs, through the library's own
# writers, personnel_org derivation and commit), then times `report`, `diff` and the DuckDB
# queries on them with the release binary. Peak RSS from /usr/bin/time. Benchmarks, not tests.
#
#   scripts/bench_analytics.sh            # N=1000000, output in a temporary folder
#   N=200000 KEEP=/tmp/scale scripts/bench_analytics.sh
#
# `scripts/bench_analytics.sh history` (the "History" section) instead writes DAYS snapshots
# (default 365, one every STEP_HOURS, default 24) of PEOPLE people (default 10,000) with churn
# (tests/integration/history_scale.rs, debug test build: the writers are not what is measured),
# then times every `drata-etl history` answer over all of them and the DuckDB history_*.sql:
#   scripts/bench_analytics.sh history
#   PEOPLE=1000 DAYS=8760 STEP_HOURS=1 KEEP=/tmp/hourly scripts/bench_analytics.sh history
# RUNS=3 runs every timed command three times and reports the minimum of each figure, with
# the 1-minute load average before the first (the machine may be shared); NO_SQL=1 skips
# the DuckDB queries of the history mode.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-report}

N=${N:-1000000}
BIN=target/release/drata-etl
WORK=${KEEP:-$(mktemp -d)}
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
PY=${DRATA_ETL_PYTHON:-.venv/bin/python}

cargo build --release --quiet
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "binary: $BIN ($(git rev-parse --short HEAD 2>/dev/null || echo unknown)), $([ "$MODE" = history ] && echo "history mode" || echo "N=$N")"

if [ "$MODE" = history ]; then
  PEOPLE=${PEOPLE:-10000} DAYS=${DAYS:-365} STEP_HOURS=${STEP_HOURS:-24}
  if [ ! -d "$WORK/out/_snapshots" ]; then
    echo "== writing $DAYS snapshots of ~$PEOPLE people, one every $STEP_HOURS h"
    DRATA_ETL_HISTORY_OUT="$WORK/out" DRATA_ETL_HISTORY_PEOPLE="$PEOPLE" DRATA_ETL_HISTORY_DAYS="$DAYS" \
      DRATA_ETL_HISTORY_STEP_HOURS="$STEP_HOURS" \
      cargo test --quiet --test integration history_scale -- --ignored --nocapture 2>&1 | grep '^{' || true
  fi
fi
if [ "$MODE" != history ] && [ ! -d "$WORK/out/_snapshots" ]; then
  echo "== writing two snapshots of $N people (personnel_org derivation measured in-process)"
  DRATA_ETL_SCALE_OUT="$WORK/out" DRATA_ETL_SCALE_PEOPLE="$N" \
    cargo test --release --quiet --test integration analytics_scale -- --ignored --nocapture 2>&1 | grep '^{' || true
fi
du -sh "$WORK/out" | sed 's/^/output size: /'

timed() { # name, command... (RUNS times: the minimum of each figure, and the load average before)
  local name=$1; shift
  local load best_wall="" best_rss="" best_cpu="" i wall rss user sys
  load=$(cut -d' ' -f1 /proc/loadavg)
  for i in $(seq "${RUNS:-1}"); do
    /usr/bin/time -f "%e %M %U %S" -o "$WORK/time.txt" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" \
      || { echo "$name failed:"; tail -5 "$WORK/cmd.err"; return 1; }
    read -r wall rss user sys <"$WORK/time.txt"
    best_wall=$(awk "BEGIN {w = $wall; b = \"$best_wall\"; print (b == \"\" || w < b) ? w : b}")
    best_rss=$(awk "BEGIN {r = $rss; b = \"$best_rss\"; print (b == \"\" || r < b) ? r : b}")
    best_cpu=$(awk "BEGIN {c = $user + $sys; b = \"$best_cpu\"; print (b == \"\" || c < b) ? c : b}")
  done
  printf "  %-44s wall %6.2fs  peak RSS %6.0f MiB  cpu %6.2fs  output %s  (load %s, min of %s)\n" \
    "$name" "$best_wall" "$((best_rss / 1024))" "$best_cpu" "$(du -h "$WORK/cmd.out" | cut -f1)" "$load" "${RUNS:-1}"
}

if [ "$MODE" = history ]; then
  echo "== history answers over every snapshot ($(ls "$WORK/out/_snapshots" | wc -l) snapshots)"
  for answer in streaks trend audit-sample offboarding training-due; do
    timed "history $answer --format json" "$BIN" history "$answer" --out "$WORK/out" --format json
  done
  timed "history trend --format html" "$BIN" history trend --out "$WORK/out" --format html
  timed "history audit-sample (last quarter)" "$BIN" history audit-sample --out "$WORK/out" --format json \
    --from "$(date -d "$(ls "$WORK/out/_snapshots" | tail -1 | cut -c1-8) -90 days" +%F)"
  if [ -z "${NO_SQL:-}" ] && "$PY" -c 'import duckdb' 2>/dev/null; then
    for q in history_streaks history_trend history_audit_sample history_offboarding history_training_due; do
      timed "DuckDB $q.sql" "$PY" scripts/queries/run.py "$WORK/out" --json "$q"
    done
  fi
  exit 0
fi

echo "== analytics over the latest snapshot ($N people)"
timed "report --format json (limit 50)" "$BIN" report --out "$WORK/out" --format json
timed "report --format text (limit 50)" "$BIN" report --out "$WORK/out"
timed "report --format html (limit 50)" "$BIN" report --out "$WORK/out" --format html
timed "report --format json --limit 0 (all lists)" "$BIN" report --out "$WORK/out" --format json --limit 0
timed "diff --format json (limit 50)" "$BIN" diff --out "$WORK/out" --format json
timed "diff --format parquet (every change)" "$BIN" diff --out "$WORK/out" --format parquet -o "$WORK/changes.parquet"
if "$PY" -c 'import duckdb' 2>/dev/null; then
  timed "scripts/queries/run.py (all 14 queries, DuckDB)" "$PY" scripts/queries/run.py "$WORK/out" --json
fi
