#!/usr/bin/env bash
# Benchmark driver: runs drata-etl (release build) against `drata-etl simulate` in a
# separate process and prints the numbers BENCHMARKS.md reports. Benchmarks, not tests:
# nothing here fails on a slow machine. Whole script: under 10 minutes on 2 cores.
#
#   scripts/bench.sh            # all benchmarks, RUNS=3 runs each
#   RUNS=5 scripts/bench.sh simulator latency rate throughput memory
#   MEM_RUNS=3 scripts/bench.sh memory           # 1,000,000 people three times (~9 minutes)
#   scripts/bench.sh incremental                 # slow: 10,000 people at 500 requests/minute
#   scripts/bench.sh incremental_memory          # 1,000,000 people, full then --incremental (~5 min)
#   BENCH_NO_BUILD=1 BIN=path/to/drata-etl LOAD=path/to/sim_load scripts/bench.sh   # given binaries
#   BENCH_NO_BUILD=1 BIN=target/debug/drata-etl scripts/bench.sh shapes   # limiter shapes, debug build
#   scripts/bench.sh shapes_long                 # slow: the same shapes with 5,000 people
#   SHAPES=penalty_1s,inflight scripts/bench.sh shapes   # some of the shapes only
#   CONCURRENT="2 4" SHAPES=bucket,penalty_1s scripts/bench.sh concurrent   # runs sharing one limiter
#   scripts/bench.sh v2                          # 10,000 people in the real v2 dialect at 50 ms latency
#   BIN=<delta build> BENCH_NO_BUILD=1 scripts/bench.sh delta   # what --table-format delta costs per run, and as its log grows
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
BIN=${BIN:-target/release/drata-etl}
LOAD=${LOAD:-target/release/examples/sim_load}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export DRATA_API_KEY=bench-key

# Without analytics (Polars), with the simulator: `run` and `simulate` are the same code as
# the default build.
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release --quiet --no-default-features --features simulator --bin drata-etl --example sim_load
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "binary: $BIN ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))"

sim_pid=""
start_sim() { # args: simulate flags
  "$BIN" simulate --listen 127.0.0.1:0 --api-key bench-key "$@" >"$WORK/sim.out" 2>"$WORK/sim.err" &
  sim_pid=$!
  for _ in $(seq 100); do
    [ -s "$WORK/sim.out" ] && break
    sleep 0.05
  done
  BASE=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["base_url"])' "$WORK/sim.out")
}
stop_sim() { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }
# CPU seconds (user + system) the running simulator has used so far.
sim_cpu() { awk -v tck="$(getconf CLK_TCK)" '{ print ($14 + $15) / tck }' "/proc/$sim_pid/stat"; }

# One timed run; appends a JSON line {summary..., rss_kb, user_s, sys_s, wall_s} to $1.
# Starts from an empty output unless KEEP_OUT is set.
timed_run() {
  local results=$1; shift
  [ -n "${KEEP_OUT:-}" ] || rm -rf "$WORK/out"
  local sim_before; sim_before=$(sim_cpu)
  # RUN_LOG_ARGS: e.g. debug JSON logs, from which the 429s of the first second are counted.
  # shellcheck disable=SC2086
  /usr/bin/time -v -o "$WORK/time.txt" "$BIN" run --base-url "$BASE" --out "$WORK/out" ${RUN_LOG_ARGS:---log-level warn} "$@" \
    >"$WORK/summary.json" 2>"$WORK/run.err" || { echo "run failed:"; tail -5 "$WORK/run.err"; tail -1 "$WORK/summary.json"; return 1; }
  python3 - "$WORK/summary.json" "$WORK/time.txt" "$sim_before" "$(sim_cpu)" "$WORK/run.err" "${RUN_LOG_ARGS:-}" >>"$results" <<'PY'
import datetime, json, re, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
t = open(sys.argv[2]).read()
s["sim_cpu_s"] = float(sys.argv[4]) - float(sys.argv[3])
if "json" in sys.argv[6]:
    # 429s answered within the first second of the run's log (the unpaced first burst).
    stamps, limited = [], []
    for line in open(sys.argv[5]):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        ts = datetime.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
        stamps.append(ts)
        if e.get("message") == "retrying" and e.get("reason") == "rate limited":
            limited.append(ts)
    start = min(stamps) if stamps else 0
    s["first_second_429"] = sum(1 for ts in limited if ts - start < 1.0)
def grab(label):
    return re.search(re.escape(label) + r":\s*(.+)", t).group(1).strip()
wall = grab("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
s["wall_s"] = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
s["rss_kb"] = int(grab("Maximum resident set size (kbytes)"))
s["user_s"] = float(grab("User time (seconds)"))
s["sys_s"] = float(grab("System time (seconds)"))
print(json.dumps(s))
PY
}

report() { # $1 results file, $2 benchmark name, $3 python expression over r (one run) -> dict of metrics
  python3 - "$1" "$2" "$3" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
name, expr = sys.argv[2], sys.argv[3]
rows = [eval(expr, {"r": r}) for r in runs]
print(f"\n== {name} ({len(runs)} runs: min / median / max)")
for key in rows[0]:
    vals = [row[key] for row in rows]
    print(f"  {key:<34} {min(vals):>12.3f} {statistics.median(vals):>12.3f} {max(vals):>12.3f}")
PY
}

bench_latency() {
  local people=10000 lat=50 conc=32
  start_sim --personnel $people --latency-ms $lat
  : >"$WORK/latency.jsonl"
  for _ in $(seq "$RUNS"); do timed_run "$WORK/latency.jsonl" --concurrency $conc; done
  stop_sim
  report "$WORK/latency.jsonl" "1. latency-bound: ${people} people, ${lat} ms latency, concurrency ${conc}" \
    "{'wall_s': r['wall_s'], 'requests': r['api']['requests'], 'ideal_s (requests*L/C)': r['api']['requests']*$lat/1000/$conc, 'fraction_of_ideal': (r['api']['requests']*$lat/1000/$conc)/r['wall_s'], 'peak_rss_mb': r['rss_kb']/1024}"
}

# The real v2 dialect, latency-bound: every list (personnel, users, devices, workspaces,
# controls) is cursor-paged and each person costs one documents and one assigned-policies
# call.
bench_v2() {
  local people=${V2_PEOPLE:-10000} lat=50 conc=32
  start_sim --personnel "$people" --latency-ms $lat --dialect v2
  : >"$WORK/v2.jsonl"
  for _ in $(seq "$RUNS"); do timed_run "$WORK/v2.jsonl" --concurrency $conc --api v2 --page-size 500; done
  stop_sim
  # Ideal: the cursor lists are read page after page (each page needs the previous page's
  # cursor), the per-person calls C at a time: list pages x L + per-person calls x L / C.
  local ideal="(sum(r['api']['requests_by_endpoint'].get(k, 0) for k in ('personnel_list', 'background_checks', 'devices', 'controls_list'))*$lat/1000 + sum(r['api']['requests_by_endpoint'].get(k, 0) for k in ('training', 'policies'))*$lat/1000/$conc)"
  report "$WORK/v2.jsonl" "v2 dialect, latency-bound: ${people} people, ${lat} ms latency, concurrency ${conc}, page size 500" \
    "{'wall_s': r['wall_s'], 'requests': r['api']['requests'], 'ideal_s (pages*L + calls*L/C)': $ideal, 'fraction_of_ideal': $ideal/r['wall_s'], 'cpu_s (user+sys)': r['user_s']+r['sys_s'], 'peak_rss_mb': r['rss_kb']/1024}"
  python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); print("  rows:", json.dumps(r["rows"]), " requests by endpoint:", json.dumps(r["api"].get("requests_by_endpoint", {})))' "$WORK/v2.jsonl"
}

bench_rate() {
  local people=2000 rate=50 burst=10
  start_sim --personnel $people --rate-limit $rate --rate-burst $burst
  : >"$WORK/rate.jsonl"
  for _ in $(seq "$RUNS"); do timed_run "$WORK/rate.jsonl"; done
  stop_sim
  report "$WORK/rate.jsonl" "2. rate-limited: ${people} people, server bucket ${rate}/s burst ${burst}, client defaults (adaptive)" \
    "{'wall_s': r['wall_s'], 'requests': r['api']['requests'], 'admitted_per_s': (r['api']['requests']-r['api']['rate_limited'])/r['duration_secs'], 'fraction_of_limit': (r['api']['requests']-r['api']['rate_limited'])/r['duration_secs']/$rate, 'share_429': r['api']['rate_limited']/r['api']['requests'], 'ideal_s (requests/R)': (r['api']['requests']-r['api']['rate_limited'])/$rate}"
}

bench_throughput() {
  local people=100000
  start_sim --personnel $people
  : >"$WORK/tp.jsonl"
  for _ in $(seq "$RUNS"); do timed_run "$WORK/tp.jsonl" --concurrency 32; done
  stop_sim
  report "$WORK/tp.jsonl" "3a. raw throughput on loopback: ${people} people, no latency, concurrency 32" \
    "{'wall_s': r['wall_s'], 'requests_per_s': r['api']['requests']/r['duration_secs'], 'cpu_s_per_10k_people': (r['user_s']+r['sys_s'])/($people/10000), 'peak_rss_mb': r['rss_kb']/1024, 'simulator_cores_busy': r['sim_cpu_s']/r['wall_s'], 'client_cores_busy': (r['user_s']+r['sys_s'])/r['wall_s']}"
}

# What the simulator serves on its own: examples/sim_load keeps 64 connections busy with a
# run's mix of requests (1 list page per 200 child requests) for 5 s. The load generator
# shares the 2 cores, so requests per simulator CPU second is reported too (what one core
# given to the simulator alone would serve).
bench_simulator() {
  local people=100000 conns=64 secs=5
  start_sim --personnel $people
  : >"$WORK/simload.jsonl"
  for _ in $(seq "$RUNS"); do
    local before; before=$(sim_cpu)
    /usr/bin/time -v -o "$WORK/time.txt" "$LOAD" --base-url "$BASE" --connections $conns --seconds $secs >"$WORK/load.json"
    python3 - "$WORK/load.json" "$WORK/time.txt" "$before" "$(sim_cpu)" >>"$WORK/simload.jsonl" <<'PY'
import json, re, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
t = open(sys.argv[2]).read()
cpu = lambda label: float(re.search(re.escape(label) + r":\s*(.+)", t).group(1))
s["load_cpu_s"] = cpu("User time (seconds)") + cpu("System time (seconds)")
s["sim_cpu_s"] = float(sys.argv[4]) - float(sys.argv[3])
print(json.dumps(s))
PY
  done
  stop_sim
  report "$WORK/simload.jsonl" "0. simulator capacity: ${people} people, ${conns} connections, ${secs} s, a run's request mix" \
    "{'requests_per_s': r['requests_per_s'], 'failed': r['requests_failed'], 'simulator_cores_busy': r['sim_cpu_s']/r['seconds'], 'load_generator_cores_busy': r['load_cpu_s']/r['seconds'], 'requests_per_simulator_cpu_s': r['requests_ok']/r['sim_cpu_s'], 'mb_per_s': r['mb_per_s']}"
}

bench_memory() { # MEM_RUNS (default 1: ~3 minutes a run on 2 cores)
  local people=1000000 runs=${MEM_RUNS:-1}
  start_sim --personnel $people
  : >"$WORK/mem.jsonl"
  for _ in $(seq "$runs"); do timed_run "$WORK/mem.jsonl" --concurrency 32; done
  stop_sim
  report "$WORK/mem.jsonl" "3b. memory: ${people} people, no latency, concurrency 32" \
    "{'wall_s': r['wall_s'], 'requests_per_s': r['api']['requests']/r['duration_secs'], 'peak_rss_mb': r['rss_kb']/1024, 'cpu_s_per_10k_people': (r['user_s']+r['sys_s'])/($people/10000), 'personnel_rows': r['rows']['personnel']}"
}

# Memory of an incremental run at 1,000,000 people, all unchanged: one full run seeds the
# output, then MEM_RUNS incremental runs each reuse everyone (the previous snapshot's index,
# the reused set, the child rows copied through the writers). ~5 minutes for one run.
bench_incremental_memory() {
  local people=1000000 runs=${MEM_RUNS:-1}
  start_sim --personnel $people
  : >"$WORK/seed.jsonl"
  timed_run "$WORK/seed.jsonl" --concurrency 32
  : >"$WORK/incmem.jsonl"
  for _ in $(seq "$runs"); do KEEP_OUT=1 timed_run "$WORK/incmem.jsonl" --concurrency 32 --incremental; done
  stop_sim
  report "$WORK/incmem.jsonl" "3c. memory, incremental: ${people} people unchanged, no latency, concurrency 32" \
    "{'wall_s': r['wall_s'], 'peak_rss_mb': r['rss_kb']/1024, 'reused': r['incremental']['reused'], 'requests': r['api']['requests'], 'personnel_rows': r['rows']['personnel']}"
}

# Incremental runs under Drata's documented limit (500 requests/minute): an unchanged
# 10,000-person workspace re-run with --incremental, against the full run's request count.
# The full run under that limit would take ~40 minutes, so its wall time is measured on
# 1,000 people and its request rate reported; not part of the default set (slow).
bench_incremental() {
  local people=10000
  # Seed the output with one full snapshot from an unthrottled simulator, then serve the
  # same data on the same address with the limit (the previous snapshot must come from the
  # same API host to be trusted).
  start_sim --personnel $people
  rm -rf "$WORK/inc"
  "$BIN" run --base-url "$BASE" --out "$WORK/inc" --log-level warn --concurrency 32 >"$WORK/full.json"
  stop_sim
  local addr=${BASE#http://}
  "$BIN" simulate --listen "$addr" --api-key bench-key --personnel $people --rate-limit 8.333 --rate-burst 10 \
    >"$WORK/sim.out" 2>"$WORK/sim.err" &
  sim_pid=$!
  sleep 0.5
  : >"$WORK/incr.jsonl"
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -v -o "$WORK/time.txt" "$BIN" run --base-url "$BASE" --out "$WORK/inc" --log-level warn --incremental \
      >"$WORK/summary.json" 2>"$WORK/run.err"
    tail -1 "$WORK/summary.json" >>"$WORK/incr.jsonl"
  done
  stop_sim
  python3 - "$WORK/full.json" "$WORK/incr.jsonl" <<'PY'
import json, statistics, sys
full = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
runs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
print("\n== incremental: 10000 people unchanged, server limit 500 requests/minute")
print(f"  full run requests                 {full['api']['requests']}")
for r in runs:
    inc = r.get("incremental", {})
    print(f"  incremental run: requests {r['api']['requests']}, wall {r['duration_secs']:.1f}s, reused {inc.get('reused')}, "
          f"previous {inc.get('previous_snapshot')}, ignored: {inc.get('ignored_reason')}, 429s {r['api']['rate_limited']}")
PY
}

# Limiter shapes: the same limit (40 requests/s) behind each shape `simulate` offers, client
# defaults (adaptive pacing). An in-flight limit of 2 at 50 ms latency is 40 requests/s too.
# The 60-s window's quota (2,400) exceeds a 300-person run (605 requests): only the long run
# meets it. Reports admitted rate / limit, share answered 429 and 429s in the first second.
SHAPE_LIMIT=40
declare -A SHAPE_FLAGS=(
  [bucket]=""
  [penalty_1s]="--rate-limit-shape penalty --rate-limit-penalty 1"
  [penalty_5s]="--rate-limit-shape penalty --rate-limit-penalty 5"
  [window_1s]="--rate-limit-shape window --rate-limit-window 1"
  [window_1s_noheaders]="--rate-limit-shape window --rate-limit-window 1 --rate-limit-headers false"
  [window_2s]="--rate-limit-shape window --rate-limit-window 2"
  [window_2s_noheaders]="--rate-limit-shape window --rate-limit-window 2 --rate-limit-headers false"
  [window_60s]="--rate-limit-shape window --rate-limit-window 60"
  [window_60s_noheaders]="--rate-limit-shape window --rate-limit-window 60 --rate-limit-headers false"
  [inflight]="--rate-limit-shape inflight --rate-burst 2 --latency-ms 50"
)
SHAPE_ORDER=(bucket penalty_1s penalty_5s window_1s window_1s_noheaders window_2s window_2s_noheaders window_60s window_60s_noheaders inflight)

shapes_at() { # $1 people
  local people=$1 name
  IFS=, read -r -a chosen <<<"${SHAPES:-$(IFS=,; echo "${SHAPE_ORDER[*]}")}"
  for name in "${chosen[@]}"; do
    local flags=${SHAPE_FLAGS[$name]}
    [[ $flags == *--rate-burst* ]] || flags="--rate-burst 20 $flags"
    # shellcheck disable=SC2086
    start_sim --personnel "$people" --rate-limit $SHAPE_LIMIT $flags
    : >"$WORK/shape.jsonl"
    for _ in $(seq "$RUNS"); do
      RUN_LOG_ARGS="--log-level debug --log-format json" timed_run "$WORK/shape.jsonl"
    done
    stop_sim
    report "$WORK/shape.jsonl" "shape ${name}: ${people} people, limit ${SHAPE_LIMIT}/s (simulate --rate-limit $SHAPE_LIMIT $flags)" \
      "{'wall_s': r['wall_s'], 'requests': r['api']['requests'], 'fraction_of_limit': (r['api']['requests']-r['api']['rate_limited'])/r['duration_secs']/$SHAPE_LIMIT, 'share_429': r['api']['rate_limited']/r['api']['requests'], 'first_second_429': r['first_second_429']}"
  done
}
bench_shapes() { shapes_at "${SHAPES_PEOPLE:-300}"; }
bench_shapes_long() { shapes_at 5000; }

# Runs sharing one source IP: CONCURRENT (default "2 4") separate `run` processes, each with
# its own output root and client defaults, start together against ONE simulator at the
# shapes' limit (40 requests/s), as several mapped Airflow tasks on one worker would. A fresh
# simulator per repetition, so each starts at a full bucket with no penalty in force.
# Combined admitted rate / limit = requests not answered 429 across all runs / the wall time
# from the first start to the last end / 40; combined share answered 429 = 429s / requests,
# both from each run's summary line (`api` block).
#   BENCH_NO_BUILD=1 BIN=target/debug/drata-etl scripts/bench.sh concurrent
#   CONCURRENT=2 SHAPES=penalty_1s RUNS=1 scripts/bench.sh concurrent
#   CONCURRENT=2 CONCURRENT_RUN_ARGS="--max-rps 20" scripts/bench.sh concurrent   # limit / runs each
#   SHARED_PACE=1 scripts/bench.sh concurrent   # every run with --shared-pace-file (a fresh file per repetition)
bench_concurrent() {
  local people=${SHAPES_PEOPLE:-300} name n rep i
  IFS=, read -r -a chosen <<<"${SHAPES:-bucket}"
  for name in "${chosen[@]}"; do
    local flags=${SHAPE_FLAGS[$name]}
    [[ $flags == *--rate-burst* ]] || flags="--rate-burst 20 $flags"
    for n in ${CONCURRENT:-2 4}; do
      : >"$WORK/conc.jsonl"
      for rep in $(seq "$RUNS"); do
        # shellcheck disable=SC2086
        start_sim --personnel "$people" --rate-limit $SHAPE_LIMIT $flags
        rm -rf "$WORK/cc" && mkdir -p "$WORK/cc"
        local shared=""
        if [ -n "${SHARED_PACE:-}" ]; then rm -f "$WORK/pace.json"; shared="--shared-pace-file $WORK/pace.json"; fi
        local t0; t0=$(date +%s.%N)
        for i in $(seq "$n"); do
          # shellcheck disable=SC2086
          ( "$BIN" run --base-url "$BASE" --out "$WORK/cc/out$i" --log-level warn ${CONCURRENT_RUN_ARGS:-} $shared \
              >"$WORK/cc/summary$i.json" 2>"$WORK/cc/run$i.err" || echo "run $i failed: $(tail -1 "$WORK/cc/run$i.err")" >&2
            date +%s.%N >"$WORK/cc/end$i" ) &
        done
        wait $(jobs -p | grep -vx "$sim_pid")
        stop_sim
        python3 - "$WORK/cc" "$n" "$t0" "$SHAPE_LIMIT" >>"$WORK/conc.jsonl" <<'PY'
import json, sys
d, n, t0, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
runs = [json.loads(open(f"{d}/summary{i}.json").read().strip().splitlines()[-1]) for i in range(1, n + 1)]
wall = max(float(open(f"{d}/end{i}").read()) for i in range(1, n + 1)) - t0
req = sum(r["api"]["requests"] for r in runs)
limited = sum(r["api"]["rate_limited"] for r in runs)
print(json.dumps({"wall_s": wall, "requests": req, "rate_limited": limited,
                  "combined_fraction_of_limit": (req - limited) / wall / limit,
                  "combined_share_429": limited / req,
                  "slowest_run_s": max(r["duration_secs"] for r in runs),
                  "fastest_run_s": min(r["duration_secs"] for r in runs)}))
PY
      done
      report "$WORK/conc.jsonl" "concurrent: ${n} runs of ${people} people sharing one limiter, shape ${name}, limit ${SHAPE_LIMIT}/s, run flags: ${CONCURRENT_RUN_ARGS:-defaults}${SHARED_PACE:+ + --shared-pace-file} (simulate --rate-limit $SHAPE_LIMIT $flags)" \
        "{'wall_s': r['wall_s'], 'requests (all runs)': r['requests'], 'combined_fraction_of_limit': r['combined_fraction_of_limit'], 'combined_share_429': r['combined_share_429'], 'fastest_run_s': r['fastest_run_s'], 'slowest_run_s': r['slowest_run_s']}"
      cat "$WORK/conc.jsonl"
    done
  done
}

# The ms a run spent bringing its Delta logs up to date (its "table-format logs brought up to
# date" log line; needs RUN_LOG_ARGS with json logs at info).
delta_ms() {
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("message") == "table-format logs brought up to date":
        print(e["ms"])' "$WORK/run.err"
}

# --table-format delta: (1) what the Delta commits add to a 10,000-person run (Parquet and
# Delta runs alternate, each into a fresh root); (2) how that cost grows with the log: DELTA_RUNS
# (default 200) hourly snapshots of a 5-person workspace into one Delta root, the commit's ms
# every 25th version. Needs a binary built with the `delta` feature, e.g.
# `cargo build --release --no-default-features --features simulator,delta`.
bench_delta() {
  local people=10000
  start_sim --personnel $people
  : >"$WORK/parquet.jsonl"; : >"$WORK/delta.jsonl"; : >"$WORK/delta_ms.txt"
  for _ in $(seq "$RUNS"); do
    RUN_LOG_ARGS="--log-format json --log-level info" timed_run "$WORK/parquet.jsonl"
    RUN_LOG_ARGS="--log-format json --log-level info" timed_run "$WORK/delta.jsonl" --table-format delta
    delta_ms >>"$WORK/delta_ms.txt"
  done
  stop_sim
  report "$WORK/parquet.jsonl" "delta 1. ${people} people, --table-format parquet" "{'wall_s': r['wall_s'], 'cpu_s': r['user_s']+r['sys_s'], 'peak_rss_mb': r['rss_kb']/1024}"
  report "$WORK/delta.jsonl" "delta 1. ${people} people, --table-format delta" "{'wall_s': r['wall_s'], 'cpu_s': r['user_s']+r['sys_s'], 'peak_rss_mb': r['rss_kb']/1024}"
  echo "  Delta commits (ms, each run): $(tr '\n' ' ' <"$WORK/delta_ms.txt")"

  local n=${DELTA_RUNS:-200}
  start_sim --personnel 5
  rm -rf "$WORK/out"
  echo
  echo "== delta 2. ${n} hourly snapshots into one Delta root (5 people): the Delta commits' ms per block of 25 versions"
  : >"$WORK/growth.txt"
  for i in $(seq 1 "$n"); do
    local at; at=$(date -u -d "2026-01-01 00:00:00 UTC + $i hours" +%Y-%m-%dT%H:%M:%SZ)
    "$BIN" run --base-url "$BASE" --out "$WORK/out" --table-format delta --run-at "$at" --log-format json --log-level info \
      >"$WORK/summary.json" 2>"$WORK/run.err" || { echo "run $i failed:"; tail -3 "$WORK/run.err"; break; }
    echo "$((i - 1)) $(delta_ms)" >>"$WORK/growth.txt"
  done
  stop_sim
  # Versions ending in 9 also write a checkpoint (every tenth commit): shown apart.
  python3 - "$WORK/growth.txt" <<'PY'
import statistics, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
for start in range(0, len(rows), 25):
    block = rows[start:start + 25]
    plain = [ms for v, ms in block if v % 10 != 9]
    ckpt = [ms for v, ms in block if v % 10 == 9]
    line = f"  versions {block[0][0]:>4}-{block[-1][0]:<4} commit: min {min(plain)} / median {statistics.median(plain):.0f} / max {max(plain)} ms"
    if ckpt:
        line += f"; with a checkpoint: median {statistics.median(ckpt):.0f} ms"
    print(line)
PY
}

benches=("$@")
[ ${#benches[@]} -eq 0 ] && benches=(simulator latency rate throughput memory)
for b in "${benches[@]}"; do "bench_$b"; done
