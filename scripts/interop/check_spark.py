#!/usr/bin/env python3
"""Read a drata-etl output root with Apache Spark as a user would, or with DuckDB from the
manifests, and print the same report from either.

Usage: check_spark.py spark OUT     (the .venv-spark interpreter: pyspark, Java 17+)
       check_spark.py duckdb OUT    (the .venv interpreter: duckdb)

`spark`: one local SparkSession (local[2], no UI, loopback only, quiet logs) reads EACH
table folder `OUT/<table>/` with `spark.read.option("mergeSchema", "true").parquet(...)`,
the line the README gives: Spark's own partition discovery finds the Hive levels
(`[workspace=…/]snapshot_date=…/snapshot_id=…`) and ignores every `_`-prefixed entry
(`_delta_log/` of a `--table-format delta` root). Nothing outside the table folders is
read: no manifest, no `_snapshots/`.

`duckdb`: reads exactly the files the committed manifests list
(`_snapshots/[workspace=W/]<id>/_manifest.json`), with hive_partitioning, as the reference.

Prints one JSON object: per table, `rows`, `by_snapshot` ({snapshot_id: rows}),
`by_workspace` ({workspace: {snapshot_id: rows}}, when there is a workspace level),
`files` (the data files read, relative to OUT, sorted), `columns` (what the reader returns,
in order) and `partitions` (the partition columns, in path order: Spark's discovered ones,
DuckDB's the path's keys). Spark adds `partition_types` ({name: Spark type}); DuckDB adds
`file_columns` (the columns inside the files). Exit codes: 0 read everything (the caller
compares), 2 usage, 3 a package is missing, 4 Spark could not start (Java).
"""

import json
import os
import shutil
import sys
import tempfile
from urllib.parse import unquote, urlparse

from roots import manifests

USAGE = "usage: check_spark.py spark|duckdb OUT"


def relative(out, path):
    return os.path.relpath(os.path.realpath(path), os.path.realpath(out))


def counts(groups, has_workspace):
    """Rows per snapshot (and per workspace) from (workspace, snapshot_id, rows) triples."""
    by_snapshot, by_workspace = {}, {}
    for workspace, snapshot, n in groups:
        by_snapshot[snapshot] = by_snapshot.get(snapshot, 0) + n
        if has_workspace:
            w = by_workspace.setdefault(workspace, {})
            w[snapshot] = w.get(snapshot, 0) + n
    entry = {"rows": sum(n for _, _, n in groups), "by_snapshot": by_snapshot}
    if has_workspace:
        entry["by_workspace"] = by_workspace
    return entry


# Spark's log4j2 configuration: errors only, on stderr (the JSON report owns stdout).
LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def spark_report(out):
    try:
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F
    except ImportError as e:
        print(f"missing Python package: {e} (scripts/spark/requirements.txt)", file=sys.stderr)
        sys.exit(3)

    scratch = tempfile.mkdtemp(prefix="check_spark.")
    log4j = os.path.join(scratch, "log4j2.properties")
    with open(log4j, "w") as f:
        f.write(LOG4J2)
    # Loopback only: the driver would otherwise resolve the host name and may bind to
    # whatever interface it maps to.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    try:
        spark = (
            SparkSession.builder.master("local[2]")
            .appName("drata-etl check_spark")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.memory", "512m")
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.local.dir", scratch)
            .config("spark.sql.warehouse.dir", os.path.join(scratch, "warehouse"))
            .getOrCreate()
        )
    except Exception as e:  # the JVM did not start: Java missing or too old
        print(f"Spark could not start (it needs Java 17 or later; scripts/test.sh checks): {e}", file=sys.stderr)
        shutil.rmtree(scratch, ignore_errors=True)
        sys.exit(4)
    spark.sparkContext.setLogLevel("ERROR")

    report = {}
    try:
        for name in sorted(os.listdir(out)):
            folder = os.path.join(out, name)
            # What a user reads: the table folders, never the tool's `_` folders.
            if name.startswith(("_", ".")) or not os.path.isdir(folder):
                continue
            df = spark.read.option("mergeSchema", "true").parquet(folder)
            # Spark's own answer to which columns came from the path (the relation behind a
            # file read), rather than a guess from names.
            plan = df._jdf.queryExecution().analyzed()
            if not plan.getClass().getName().endswith(".LogicalRelation"):
                raise SystemExit(f"{name}: unexpected plan for a Parquet read: {plan.getClass().getName()}")
            part_schema = json.loads(plan.relation().partitionSchema().json())
            partitions = [f["name"] for f in part_schema["fields"]]
            has_workspace = "workspace" in partitions
            keys = (["workspace"] if has_workspace else []) + ["snapshot_id"]
            rows = df.groupBy(*keys).agg(F.count(F.lit(1)).alias("n")).collect()
            groups = [(r["workspace"] if has_workspace else None, r["snapshot_id"], r["n"]) for r in rows]
            entry = counts(groups, has_workspace)
            entry["columns"] = df.columns
            entry["partitions"] = partitions
            entry["partition_types"] = {p: df.schema[p].dataType.simpleString() for p in partitions}
            entry["files"] = sorted(relative(out, unquote(urlparse(u).path)) for u in df.inputFiles())
            report[name] = entry
    finally:
        spark.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return report


def duckdb_report(out):
    try:
        import duckdb
    except ImportError as e:
        print(f"missing Python package: {e} (scripts/python-requirements.txt)", file=sys.stderr)
        sys.exit(3)
    listed = {}
    for m in manifests(out):
        for table, entry in m["tables"].items():
            listed.setdefault(table, []).extend(f["path"] for f in entry["files"])
    con = duckdb.connect()
    report = {}
    for table, paths in sorted(listed.items()):
        files = [os.path.join(out, p) for p in paths]
        sql_list = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        # The path's `key=value` levels between the table folder and the file, in order.
        keys = [seg.split("=", 1)[0] for seg in paths[0].split("/")[1:-1] if "=" in seg]
        has_workspace = "workspace" in keys
        hive = f"read_parquet({sql_list}, hive_partitioning = true, union_by_name = true)"
        group = (["workspace"] if has_workspace else []) + ["snapshot_id"]
        rows = con.sql(f"SELECT {', '.join(group)}, count(*) FROM {hive} GROUP BY ALL").fetchall()
        groups = [(r[0], r[1], r[2]) if has_workspace else (None, r[0], r[1]) for r in rows]
        entry = counts(groups, has_workspace)
        plain = f"read_parquet({sql_list}, hive_partitioning = false, union_by_name = true)"
        entry["file_columns"] = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {plain}").fetchall()]
        entry["columns"] = [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {hive}").fetchall()]
        entry["partitions"] = keys
        entry["files"] = sorted(relative(out, f) for f in files)
        report[table] = entry
    return report


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("spark", "duckdb"):
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    reader, out = sys.argv[1], sys.argv[2]
    report = spark_report(out) if reader == "spark" else duckdb_report(out)
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
