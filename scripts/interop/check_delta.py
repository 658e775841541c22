#!/usr/bin/env python3
"""Read a `--table-format delta` output root with independent Delta readers.

Usage: check_delta.py OUT [--version TABLE=N ...]
       check_delta.py s3://BUCKET/PREFIX --s3-endpoint URL [--version TABLE=N ...]

For every table folder with a `_delta_log/`, reads the current version with Python
`deltalake` (DeltaTable.to_pyarrow_table) and with Polars (pl.read_delta, pl.scan_delta),
and the Parquet layout's files that the committed manifests list with DuckDB
(read_parquet over exactly those files, hive_partitioning). All three must hold exactly the
same rows (compared as sorted JSON lines of every column; the partition columns as text).
`--version TABLE=N` also reads that older version (time travel) with both readers (or
reports the readers' error, e.g. for a version whose files were pruned).

On an S3 root (`s3://…`, with `--s3-endpoint` for an S3-compatible server and the
credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), the Delta readers read the tables
in the store, and DuckDB reads a copy of the root downloaded with pyarrow's S3 filesystem.

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
import tempfile

try:
    import deltalake
    import duckdb
    import polars as pl
except ImportError as e:  # the caller names scripts/python-requirements.txt
    print(f"missing Python package: {e}", file=sys.stderr)
    sys.exit(3)

from roots import manifests, s3_filesystem

PARTITIONS = ["workspace", "snapshot_date", "snapshot_id"]


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


def download(root, endpoint, into):
    """Copy every object under s3://bucket/prefix into a local folder (the DuckDB side)."""
    import pyarrow.fs as pafs

    fs = s3_filesystem(endpoint)
    pafs.copy_files(root[len("s3://") :].strip("/"), into, source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    root = args[0]
    versions = {}
    endpoint = None
    i = 1
    while i < len(args):
        if args[i] == "--version":
            table, n = args[i + 1].split("=")
            versions.setdefault(table, []).append(int(n))
            i += 2
        elif args[i] == "--s3-endpoint":
            endpoint = args[i + 1]
            i += 2
        else:
            print(f"unknown argument {args[i]}", file=sys.stderr)
            sys.exit(2)
    options = None
    copy = None
    if root.startswith("s3://"):
        if not endpoint:
            print("an s3:// root needs --s3-endpoint", file=sys.stderr)
            sys.exit(2)
        options = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
        }
        copy = tempfile.TemporaryDirectory()
        out = copy.name
        download(root, endpoint, out)
    else:
        out = root

    listed = {}
    for m in manifests(out):
        for table, entry in m["tables"].items():
            listed.setdefault(table, []).extend(os.path.join(out, f["path"]) for f in entry["files"])

    report = {}
    disagreements = []
    for log in sorted(glob.glob(os.path.join(out, "*", "_delta_log"))):
        table = os.path.basename(os.path.dirname(log))
        # The table where its readers find it: the local folder, or the table in the store.
        folder = f"{root.rstrip('/')}/{table}" if options else os.path.dirname(log)
        dt = deltalake.DeltaTable(folder, storage_options=options)
        via_deltalake = pl.from_arrow(dt.to_pyarrow_table())
        via_polars = pl.read_delta(folder, storage_options=options)
        via_scan = pl.scan_delta(folder, storage_options=options).collect()
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
            try:
                old_dt = pl.from_arrow(deltalake.DeltaTable(folder, version=v, storage_options=options).to_pyarrow_table())
                old_pl = pl.read_delta(folder, version=v, storage_options=options)
            except Exception as e:  # a version whose files are gone (pruned, or replaced by a rerun)
                entry["versions"][str(v)] = {"error": f"{type(e).__name__}: {e}"}
                continue
            entry["versions"][str(v)] = {
                "by_snapshot": per_snapshot(old_pl),
                "same_rows": normalised(old_dt) == normalised(old_pl),
            }
        report[table] = entry
    print(json.dumps(report, sort_keys=True), flush=True)
    if copy is not None:
        copy.cleanup()
    if disagreements:
        print(f"readers disagree on: {', '.join(disagreements)}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    # Without the interpreter's teardown: the readers' runtime threads (deltalake's object
    # store clients) have aborted it ("terminate called without an active exception").
    os._exit(code)
