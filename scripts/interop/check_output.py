#!/usr/bin/env python3
"""Interoperability check of a drata-etl output directory.

Reads every table of OUT_DIR the way analysts will — DuckDB's read_parquet with
hive_partitioning and pyarrow.dataset with hive partitioning — and checks it against the
commit record (OUT_DIR/_snapshots/*/_manifest.json):

  * rows per table (and per snapshot) equal the manifests' tables.<t>.rows, in both engines;
  * every Parquet file readers would glob is listed by a manifest (no orphans);
  * the Hive keys snapshot_date and snapshot_id are visible as columns in both engines and
    agree with snapshot_at (a UTC timestamp);
  * personnel.start_date is a DATE and personnel.is_active a BOOLEAN;
  * personnel ids are unique per snapshot; every personnel_training and
    personnel_background_checks row points at a person of its own snapshot;
  * personnel_org (derived) has one row per person of the same snapshot;
  * a DuckDB GROUP BY compliance_status query runs and adds up.

Usage: check_output.py OUT_DIR
Exit codes: 0 all checks passed, 1 a check failed, 2 usage error, 3 duckdb/pyarrow missing.
Needs the packages pinned in scripts/python-requirements.txt (scripts/test.sh installs them
into .venv).
"""

import glob
import json
import os
import sys

TABLES = ["personnel", "personnel_training", "personnel_background_checks", "controls", "personnel_org"]
# Derived tables: snapshots committed before a derived table existed do not list it.
DERIVED = {"personnel_org"}
CHILD_TABLES = ["personnel_training", "personnel_background_checks"]
PARTITION_KEYS = ["snapshot_date", "snapshot_id"]

try:
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds
except ImportError as e:  # pragma: no cover - depends on the interpreter
    print(
        f"check_output.py: cannot import duckdb/pyarrow with {sys.executable}: {e}\n"
        "Run scripts/test.sh (it creates .venv and installs scripts/python-requirements.txt), "
        "or set DRATA_ETL_PYTHON to an interpreter that has them.",
        file=sys.stderr,
    )
    sys.exit(3)


class Checker:
    def __init__(self):
        self.failures = []

    def ok(self, msg):
        print(f"  ok    {msg}")

    def note(self, msg):
        print(f"  note  {msg}")

    def fail(self, msg):
        print(f"  FAIL  {msg}")
        self.failures.append(msg)

    def expect(self, cond, ok_msg, fail_msg):
        if cond:
            self.ok(ok_msg)
        else:
            self.fail(fail_msg)
        return cond


def sql_str(s):
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def nonzero(d):
    """A GROUP BY has no group for a snapshot whose table is empty."""
    return {k: v for k, v in d.items() if v}


def read_manifests(out, c):
    """Per-table totals, per-(table, snapshot_id) rows, and the set of listed files."""
    paths = sorted(glob.glob(os.path.join(glob.escape(out), "_snapshots", "*", "_manifest.json")))
    totals = {t: 0 for t in TABLES}
    per_snapshot = {t: {} for t in TABLES}
    listed = {t: set() for t in TABLES}
    snapshots = []
    if not paths:
        c.fail(f"no committed snapshot: nothing matches {out}/_snapshots/*/_manifest.json")
        return totals, per_snapshot, listed, snapshots
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                m = json.load(f)
        except (OSError, ValueError) as e:
            c.fail(f"{p}: unreadable manifest: {e}")
            continue
        sid = m.get("snapshot_id")
        dirname = os.path.basename(os.path.dirname(p))
        if sid != dirname:
            c.fail(f"{p}: snapshot_id {sid!r} differs from its directory name {dirname!r}")
        snapshots.append((sid, m.get("snapshot_date")))
        tables = m.get("tables") or {}
        for t in TABLES:
            entry = tables.get(t)
            if entry is None and t in DERIVED:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("rows"), int):
                c.fail(f"{p}: no integer tables.{t}.rows")
                continue
            totals[t] += entry["rows"]
            per_snapshot[t][sid] = per_snapshot[t].get(sid, 0) + entry["rows"]
            for f in entry.get("files") or []:
                if isinstance(f, dict) and "path" in f:
                    listed[t].add(os.path.normpath(f["path"]))
    c.ok(f"{len(paths)} manifest(s): " + ", ".join(f"{sid} ({d})" for sid, d in snapshots))
    return totals, per_snapshot, listed, snapshots


def check_table_duckdb(con, out, t, totals, per_snapshot, c):
    """Register view `t` over the table's files; check counts, partition columns, types."""
    pattern = os.path.join(out, t, "**", "*.parquet")
    con.execute(
        f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM read_parquet({sql_str(pattern)}, hive_partitioning=true)"
    )
    types = {name: typ for name, typ, *_ in con.execute(f"DESCRIBE {t}").fetchall()}
    missing = [k for k in PARTITION_KEYS if k not in types]
    c.expect(
        not missing,
        f"duckdb  {t}: partition columns visible ({', '.join(f'{k} {types.get(k)}' for k in PARTITION_KEYS)})",
        f"duckdb  {t}: partition column(s) {missing} not visible; columns: {sorted(types)}",
    )
    ts = types.get("snapshot_at")
    c.expect(
        ts == "TIMESTAMP WITH TIME ZONE",
        f"duckdb  {t}: snapshot_at is {ts}",
        f"duckdb  {t}: snapshot_at is {ts}, expected TIMESTAMP WITH TIME ZONE (a UTC-adjusted timestamp)",
    )
    if t == "personnel":
        for col, want in [("start_date", "DATE"), ("is_active", "BOOLEAN")]:
            got = types.get(col)
            c.expect(got == want, f"duckdb  personnel.{col} is {got}", f"duckdb  personnel.{col} is {got}, expected {want}")

    n = con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
    c.expect(
        n == totals[t],
        f"duckdb  {t}: {n} rows = manifest",
        f"duckdb  {t}: {n} rows but the manifests say {totals[t]}",
    )
    if "snapshot_id" in types:
        got = dict(con.execute(f"SELECT CAST(snapshot_id AS VARCHAR), count(*) FROM {t} GROUP BY 1").fetchall())
        if n == totals[t] and got != nonzero(per_snapshot[t]):
            c.fail(f"duckdb  {t}: rows per snapshot_id {got} differ from the manifests {per_snapshot[t]}")
    if not missing and ts == "TIMESTAMP WITH TIME ZONE":
        # The Hive keys must name the snapshot the rows carry (snapshot_at in UTC).
        bad = con.execute(
            f"""SELECT CAST(snapshot_date AS VARCHAR), CAST(snapshot_id AS VARCHAR), CAST(snapshot_at AS VARCHAR), count(*)
                FROM {t}
                WHERE snapshot_at IS NULL
                   OR strftime(timezone('UTC', snapshot_at), '%Y-%m-%d') <> CAST(snapshot_date AS VARCHAR)
                   OR strftime(timezone('UTC', snapshot_at), '%Y%m%dT%H%M%SZ') <> CAST(snapshot_id AS VARCHAR)
                GROUP BY ALL LIMIT 5"""
        ).fetchall()
        c.expect(
            not bad,
            f"duckdb  {t}: snapshot_date/snapshot_id agree with snapshot_at (UTC)",
            f"duckdb  {t}: partition keys disagree with snapshot_at: {bad}",
        )
    return n


def check_table_pyarrow(out, t, totals, per_snapshot, c):
    path = os.path.join(out, t)
    dset = ds.dataset(path, format="parquet", partitioning="hive")
    schema = dset.schema
    missing = [k for k in PARTITION_KEYS if k not in schema.names]
    c.expect(
        not missing,
        f"pyarrow {t}: partition columns visible ({', '.join(f'{k} {schema.field(k).type}' for k in PARTITION_KEYS if k in schema.names)})",
        f"pyarrow {t}: partition column(s) {missing} not visible; columns: {schema.names}",
    )
    if "snapshot_at" in schema.names:
        ty = schema.field("snapshot_at").type
        c.expect(
            pa.types.is_timestamp(ty) and ty.tz in ("UTC", "+00:00", "Etc/UTC", "Z"),
            f"pyarrow {t}: snapshot_at is {ty}",
            f"pyarrow {t}: snapshot_at is {ty}, expected a timestamp with tz=UTC",
        )
    else:
        c.fail(f"pyarrow {t}: no snapshot_at column")
    if t == "personnel":
        for col, pred, want in [
            ("start_date", pa.types.is_date32, "date32"),
            ("is_active", pa.types.is_boolean, "bool"),
        ]:
            ty = schema.field(col).type if col in schema.names else None
            c.expect(
                ty is not None and pred(ty),
                f"pyarrow personnel.{col} is {ty}",
                f"pyarrow personnel.{col} is {ty}, expected {want}",
            )
    n = dset.count_rows()
    c.expect(
        n == totals[t],
        f"pyarrow {t}: {n} rows = manifest",
        f"pyarrow {t}: {n} rows but the manifests say {totals[t]}",
    )
    if "snapshot_id" in schema.names:
        tbl = dset.to_table(columns=["snapshot_id"])
        agg = tbl.group_by("snapshot_id").aggregate([([], "count_all")])
        got = {str(k): v for k, v in zip(agg.column("snapshot_id").to_pylist(), agg.column("count_all").to_pylist())}
        if n == totals[t] and got != nonzero(per_snapshot[t]):
            c.fail(f"pyarrow {t}: rows per snapshot_id {got} differ from the manifests {per_snapshot[t]}")
    if t == "personnel" and "snapshot_id" in schema.names:
        tbl = dset.to_table(columns=["snapshot_id", "id"])
        agg = tbl.group_by("snapshot_id").aggregate([("id", "count"), ("id", "count_distinct")])
        dup = [
            (s, a, b)
            for s, a, b in zip(agg["snapshot_id"].to_pylist(), agg["id_count"].to_pylist(), agg["id_count_distinct"].to_pylist())
            if a != b
        ]
        c.expect(
            not dup,
            "pyarrow personnel: ids unique per snapshot",
            f"pyarrow personnel: duplicate ids (snapshot, rows, distinct ids): {dup}",
        )
    return schema


def check_orphans(out, t, listed, c):
    """Files a reader's glob picks up must be ones a manifest committed."""
    found = {
        os.path.normpath(os.path.relpath(p, out))
        for p in glob.glob(os.path.join(glob.escape(out), t, "**", "*.parquet"), recursive=True)
    }
    extra = sorted(found - listed[t])
    gone = sorted(listed[t] - found)
    c.expect(not extra, f"files   {t}: {len(found)} file(s), all listed in a manifest", f"files   {t}: not in any manifest (readers will count them): {extra[:5]}")
    if gone:
        c.fail(f"files   {t}: listed in a manifest but missing: {gone[:5]}")
    return found


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    out = os.path.abspath(argv[1])
    if not os.path.isdir(out):
        print(f"check_output.py: {out} is not a directory", file=sys.stderr)
        return 2
    c = Checker()
    print(f"drata-etl interop check of {out}")
    print(f"  duckdb {duckdb.__version__}, pyarrow {pa.__version__}, python {sys.version.split()[0]}")

    totals, per_snapshot, listed, _ = read_manifests(out, c)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    readable = set()
    string_dates = set()
    for t in TABLES:
        found = check_orphans(out, t, listed, c)
        if not found:
            if totals[t] == 0:
                c.note(f"{t}: no files and the manifests say 0 rows; nothing to read")
            else:
                c.fail(f"{t}: no Parquet files under {out}/{t} but the manifests say {totals[t]} rows")
            continue
        try:
            check_table_duckdb(con, out, t, totals, per_snapshot, c)
            readable.add(t)
        except duckdb.Error as e:
            c.fail(f"duckdb  {t}: cannot read: {e}")
        try:
            schema = check_table_pyarrow(out, t, totals, per_snapshot, c)
            if "snapshot_date" in schema.names and not pa.types.is_date(schema.field("snapshot_date").type):
                string_dates.add(str(schema.field("snapshot_date").type))
        except (pa.ArrowException, OSError, KeyError) as e:
            c.fail(f"pyarrow {t}: cannot read: {e}")

    if string_dates:
        c.note(
            f"pyarrow infers snapshot_date as {'/'.join(sorted(string_dates))}, DuckDB as DATE: pyarrow's hive "
            "discovery never infers dates (pass an explicit partitioning schema to get date32)"
        )

    if "personnel" in readable:
        try:
            dup = con.execute(
                "SELECT CAST(snapshot_id AS VARCHAR), id, count(*) FROM personnel GROUP BY ALL HAVING count(*) > 1 LIMIT 5"
            ).fetchall()
            nulls = con.execute("SELECT count(*) FROM personnel WHERE id IS NULL").fetchone()[0]
            c.expect(
                not dup and nulls == 0,
                "duckdb  personnel: ids non-null and unique per snapshot",
                f"duckdb  personnel: {nulls} null id(s); duplicate (snapshot_id, id, rows): {dup}",
            )
            for child in CHILD_TABLES:
                if child not in readable:
                    continue
                orphans = con.execute(
                    f"""SELECT CAST(c.snapshot_id AS VARCHAR), c.personnel_id, count(*) FROM {child} c
                        WHERE NOT EXISTS (SELECT 1 FROM personnel p
                                          WHERE p.snapshot_id = c.snapshot_id AND p.id = c.personnel_id)
                        GROUP BY ALL LIMIT 5"""
                ).fetchall()
                c.expect(
                    not orphans,
                    f"duckdb  {child}.personnel_id: every value is a person of the same snapshot",
                    f"duckdb  {child}.personnel_id: not in personnel of the same snapshot (snapshot_id, personnel_id, rows): {orphans}",
                )
            if "personnel_org" in readable:
                unmatched = con.execute(
                    """SELECT count(*) FROM personnel p
                       FULL OUTER JOIN personnel_org o ON o.snapshot_id = p.snapshot_id AND o.id = p.id
                       WHERE o.id IS NULL OR p.id IS NULL"""
                ).fetchone()[0]
                c.expect(
                    unmatched == 0,
                    "duckdb  personnel_org: one row per person of the same snapshot",
                    f"duckdb  personnel_org: {unmatched} id(s) not matched one-to-one with personnel of the same snapshot",
                )
            groups = con.execute(
                "SELECT coalesce(compliance_status, '<null>') AS compliance_status, count(*) AS people "
                "FROM personnel GROUP BY ALL ORDER BY people DESC, compliance_status"
            ).fetchall()
            total = sum(n for _, n in groups)
            c.expect(
                total == totals["personnel"],
                "duckdb  GROUP BY compliance_status: " + ", ".join(f"{s}={n}" for s, n in groups),
                f"duckdb  GROUP BY compliance_status adds up to {total}, not {totals['personnel']}: {groups}",
            )
            # The query `drata-etl demo` tells people to paste must run as printed.
            con.execute(
                "SELECT department, compliance_status, count(*) AS people FROM personnel WHERE is_active GROUP BY ALL ORDER BY ALL"
            ).fetchall()
            c.ok("duckdb  the demo's department x compliance_status query runs")
        except duckdb.Error as e:
            c.fail(f"duckdb  query on personnel failed: {e}")

    print("manifest rows: " + ", ".join(f"{t}={totals[t]}" for t in TABLES))
    sys.stdout.flush()
    if c.failures:
        print(f"INTEROP CHECK FAILED: {len(c.failures)} problem(s):", file=sys.stderr)
        for f in c.failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print("interop check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
