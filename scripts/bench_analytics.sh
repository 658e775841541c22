#!/usr/bin/env bash
# Analytics benchmark driver (the "Analytics" section of BENCHMARKS.md): writes two synthetic
# snapshots of N people (default 1,000,000; tests/integration/analytics_scale.rs, through the library's own
# writers, personnel_org derivation and commit), then times `report`, `diff` and the DuckDB
# queries on them with the release binary. Peak RSS from /usr/bin/time. Benchmarks, not tests.
#
#   scripts/bench_analytics.sh            # N=1000000, output in a temporary folder
#   N=200000 KEEP=/tmp/scale scripts/bench_analytics.sh
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000000}
BIN=target/release/drata-etl
WORK=${KEEP:-$(mktemp -d)}
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT
PY=${DRATA_ETL_PYTHON:-.venv/bin/python}

cargo build --release --quiet
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "binary: $BIN ($(git rev-parse --short HEAD 2>/dev/null || echo unknown)), N=$N"

if [ ! -d "$WORK/out/_snapshots" ]; then
  echo "== writing two snapshots of $N people (personnel_org derivation measured in-process)"
  DRATA_ETL_SCALE_OUT="$WORK/out" DRATA_ETL_SCALE_PEOPLE="$N" \
    cargo test --release --quiet --test integration analytics_scale -- --ignored --nocapture 2>&1 | grep '^{' || true
fi
du -sh "$WORK/out" | sed 's/^/output size: /'

timed() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %M %U %S" -o "$WORK/time.txt" "$@" >"$WORK/cmd.out" 2>"$WORK/cmd.err" \
    || { echo "$name failed:"; tail -5 "$WORK/cmd.err"; return 1; }
  read -r wall rss user sys <"$WORK/time.txt"
  printf "  %-44s wall %6.2fs  peak RSS %6.0f MiB  cpu %6.2fs  output %s\n" \
    "$name" "$wall" "$((rss / 1024))" "$(awk "BEGIN {print $user + $sys}")" "$(du -h "$WORK/cmd.out" | cut -f1)"
}

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
