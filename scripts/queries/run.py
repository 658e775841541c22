#!/usr/bin/env python3
"""Run the DuckDB queries in scripts/queries/ against a drata-etl output root.

Usage: run.py OUT_DIR [--snapshot ID] [--from-snapshot ID] [--workspace W] [--var NAME=VALUE ...] [--json] [QUERY ...]

Reads _views.sql first (and _views_real.sql when the root has the real dialects' tables) (views over the committed snapshot chosen by --snapshot, default the
latest), then each QUERY (a file name with or without .sql; default: every query), and
prints each result as an aligned table, or with --json one JSON object
{"query": ..., "columns": [...], "rows": [[...], ...]} per line (dates as YYYY-MM-DD).
--var sets any other DuckDB variable (e.g. the history_*.sql window: --var history_from=2026-01-01;
see _history_views.sql), read after _views.sql.
The same SQL runs in the duckdb CLI:  cd OUT_DIR && duckdb -c ".read _views.sql" -c ".read q.sql"

Exit codes: 0 ok, 1 a query failed, 2 usage error, 3 duckdb missing.
"""

import argparse
import datetime
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_TABLES = ("personnel_identities", "personnel_devices", "personnel_device_checks", "personnel_policies")

try:
    import duckdb
except ImportError as e:  # pragma: no cover - depends on the interpreter
    print(f"run.py: cannot import duckdb with {sys.executable}: {e} (scripts/test.sh installs it into .venv)", file=sys.stderr)
    sys.exit(3)


def value(v):
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, list):
        return [value(x) for x in v]
    if hasattr(v, "is_finite"):  # Decimal
        return float(v)
    return v


def main(argv):
    ap = argparse.ArgumentParser(description="Run scripts/queries/*.sql against a drata-etl output root.")
    ap.add_argument("out")
    ap.add_argument("queries", nargs="*")
    ap.add_argument("--snapshot")
    ap.add_argument("--from-snapshot")
    ap.add_argument("--workspace")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    a = ap.parse_intermixed_args(argv[1:])
    if not os.path.isdir(a.out):
        print(f"run.py: {a.out} is not a directory", file=sys.stderr)
        return 2
    names = a.queries or sorted(f[:-4] for f in os.listdir(HERE) if f.endswith(".sql") and not f.startswith("_"))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    os.chdir(a.out)
    for var, val in (("workspace", a.workspace), ("snapshot", a.snapshot), ("from_snapshot", a.from_snapshot)):
        if val is not None:
            con.execute(f"SET VARIABLE {var} = ?", [val])
    for kv in a.var:
        name, sep, val = kv.partition("=")
        if not sep or not name.isidentifier():
            print(f"run.py: --var {kv!r} is not NAME=VALUE", file=sys.stderr)
            return 2
        con.execute(f"SET VARIABLE {name} = ?", [val])
    for views in ("_views.sql", "_history_views.sql"):
        with open(os.path.join(HERE, views), encoding="utf-8") as f:
            con.execute(f.read())
    # The real dialects' tables exist only in roots written by versions that write them.
    real = all(os.path.isdir(t) for t in REAL_TABLES)
    if real:
        with open(os.path.join(HERE, "_views_real.sql"), encoding="utf-8") as f:
            con.execute(f.read())
    failed = 0
    for name in names:
        name = name[:-4] if name.endswith(".sql") else name
        path = os.path.join(HERE, name + ".sql")
        if name.startswith("real_") and not real:
            print(f"run.py: {name}: skipped, this output root has no {', '.join(REAL_TABLES)} folders (written by an older drata-etl)", file=sys.stderr)
            continue
        try:
            with open(path, encoding="utf-8") as f:
                cur = con.execute(f.read())
            cols = [d[0] for d in cur.description]
            rows = [[value(v) for v in r] for r in cur.fetchall()]
        except (OSError, duckdb.Error) as e:
            print(f"run.py: {name}: {e}", file=sys.stderr)
            failed += 1
            continue
        if a.json:
            print(json.dumps({"query": name, "columns": cols, "rows": rows}, ensure_ascii=False))
        else:
            print(f"== {name} ({len(rows)} rows)")
            widths = [max([len(str(c))] + [len(str(r[i])) for r in rows]) for i, c in enumerate(cols)]
            print("  ".join(str(c).ljust(w) for c, w in zip(cols, widths)).rstrip())
            for r in rows:
                print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
            print()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
