#!/usr/bin/env python3
"""Read a `--table-format delta` output root with independent Delta readers.

Usage: check_delta.py OUT [--version TABLE=N ...]

For every table folder with a `_delta_log/`, reads the current version with Python
`deltalake` (DeltaTable.to_pyarrow_table) and with Polars (pl.read_delta, pl.scan_delta),
and the Parquet layout's files that the committed manifests list with DuckDB
(read_parquet over exactly those files, hive_partitioning). All three must hold exactly the
same rows (compared as sorted JSON lines of every column; the partition columns as text).
`--version TABLE=N` also reads that older version (time travel) with both readers.

Prints one JSON object on stdout: per table, the version read, the row counts per reader,
the rows per snapshot_id of the current version and of each requested older version, and
`same_rows` (true when the three readers agree row for row). Exits 0 when it could read
everything (the caller asserts the numbers), 1 on a reader disagreement, 3 when a package
is missing.
"""

import glob
import json
import os
import sys

try:
    import deltalake
    import duckdb
    import polars as pl
except ImportError as e:  # the caller names scripts/python-requirements.txt
    print(f"missing Python package: {e}", file=sys.stderr)
    sys.exit(3)

PARTITIONS = ["workspace", "snapshot_date", "snapshot_id"]


def manifests(out):
    found = glob.glob(os.path.join(out, "_snapshots", "*", "_manifest.json"))
    found += glob.glob(os.path.join(out, "_snapshots", "workspace=*", "*", "_manifest.json"))
    result = []
    for path in sorted(found):
        with open(path) as f:
            result.append(json.load(f))
    return result


def normalised(df):
    """Every column as JSON text, partition columns as strings, sorted: comparable rows."""
    casts = [pl.col(c).cast(pl.Utf8) for c in PARTITIONS if c in df.columns]
    if casts:
        df = df.with_columns(casts)
    df = df.select(sorted(df.columns))
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in df.to_dicts())


def per_snapshot(df):
    if df.height == 0:
        return {}
    counts = df.group_by("snapshot_id").len()
    return {r["snapshot_id"]: r["len"] for r in counts.to_dicts()}


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out = args[0]
    versions = {}
    i = 1
    while i < len(args):
        if args[i] == "--version":
            table, n = args[i + 1].split("=")
            versions.setdefault(table, []).append(int(n))
            i += 2
        else:
            print(f"unknown argument {args[i]}", file=sys.stderr)
            sys.exit(2)

    listed = {}
    for m in manifests(out):
        for table, entry in m["tables"].items():
            listed.setdefault(table, []).extend(os.path.join(out, f["path"]) for f in entry["files"])

    report = {}
    disagreements = []
    for log in sorted(glob.glob(os.path.join(out, "*", "_delta_log"))):
        folder = os.path.dirname(log)
        table = os.path.basename(folder)
        dt = deltalake.DeltaTable(folder)
        via_deltalake = pl.from_arrow(dt.to_pyarrow_table())
        via_polars = pl.read_delta(folder)
        via_scan = pl.scan_delta(folder).collect()
        files = listed.get(table, [])
        if files:
            con = duckdb.connect()
            listed_sql = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            via_duckdb = con.sql(
                f"SELECT * FROM read_parquet([{listed_sql}], hive_partitioning = true, union_by_name = true)"
            ).pl()
        else:
            via_duckdb = via_polars.clear()
        rows = {
            "deltalake": via_deltalake.height,
            "polars": via_polars.height,
            "polars_scan": via_scan.height,
            "duckdb": via_duckdb.height,
        }
        reference = normalised(via_duckdb)
        same = all(normalised(df) == reference for df in (via_deltalake, via_polars, via_scan))
        if not same:
            disagreements.append(table)
        entry = {
            "version": dt.version(),
            "rows": rows,
            "same_rows": same,
            "by_snapshot": per_snapshot(via_polars),
            "columns": via_polars.columns,
            "versions": {},
        }
        for v in versions.get(table, []):
            old_dt = pl.from_arrow(deltalake.DeltaTable(folder, version=v).to_pyarrow_table())
            old_pl = pl.read_delta(folder, version=v)
            entry["versions"][str(v)] = {
                "by_snapshot": per_snapshot(old_pl),
                "same_rows": normalised(old_dt) == normalised(old_pl),
            }
        report[table] = entry
    print(json.dumps(report, sort_keys=True))
    if disagreements:
        print(f"readers disagree on: {', '.join(disagreements)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
