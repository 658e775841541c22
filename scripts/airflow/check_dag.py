"""Check the drata-etl DAG with a real Apache Airflow install.

    python check_dag.py                       # load the DAG: no import errors, expected tasks
    python check_dag.py --bin PATH --base-url URL --key-file FILE --out DIR [--bad-key-file FILE]
                                              # ...and run the task's command against a server

Loads ``drata_etl_dag.py`` with ``DagBag`` and asserts: no import errors, the DAG
``drata_etl`` exists, runs hourly, and has exactly the tasks ``workspaces`` and ``snapshot``
(mapped over the workspaces, retried with exponential backoff); the exit-code policy (64, 65,
77 fail without retry, 69 and 75 retry). With ``--bin``, it runs the snapshot task's function
against ``--base-url`` (the simulator, in tests) and prints the value it would push to XCom
on a line starting ``XCOM ``; with ``--bad-key-file`` it also checks that a rejected key
fails the task without retry. Ends with ``check_dag: N passed, 0 failed``; exits 1 on any
failure.

Run it with the interpreter of the virtual environment that ``scripts/test.sh`` builds from
``scripts/airflow/requirements.txt`` (``.venv-airflow``). Set AIRFLOW_HOME to a scratch folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from datetime import timedelta

HERE = os.path.dirname(os.path.abspath(__file__))
DAG_FILE = os.path.join(HERE, "drata_etl_dag.py")

passed = 0
failed = 0


def check(name: str, fn) -> None:
    global passed, failed
    try:
        fn()
    except Exception:  # noqa: BLE001 - report every failure, keep going
        failed += 1
        print(f"FAIL {name}")
        traceback.print_exc()
    else:
        passed += 1
        print(f"ok   {name}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin")
    ap.add_argument("--base-url")
    ap.add_argument("--key-file")
    ap.add_argument("--bad-key-file")
    ap.add_argument("--out")
    ap.add_argument("--run-at-utc", default="2026-01-31T02:00:00")
    args = ap.parse_args()

    from airflow.exceptions import AirflowException, AirflowFailException
    from airflow.models import DagBag

    bag = DagBag(dag_folder=DAG_FILE, include_examples=False, read_dags_from_db=False)

    def no_import_errors():
        assert not bag.import_errors, f"import errors: {bag.import_errors}"

    check("DAG file imports without errors", no_import_errors)

    def shape():
        dag = bag.dags.get("drata_etl")  # not get_dag(): that asks the metadata database
        assert dag is not None, f"no DAG drata_etl; DAGs: {bag.dag_ids}"
        assert sorted(dag.task_ids) == ["snapshot", "workspaces"], dag.task_ids
        assert dag.catchup is False
        assert dag.max_active_runs == 1
        assert str(dag.timetable.summary) in ("@hourly", "0 * * * *"), dag.timetable.summary
        snap = dag.get_task("snapshot")
        from airflow.models.mappedoperator import MappedOperator

        assert isinstance(snap, MappedOperator), f"snapshot is not mapped: {type(snap)}"
        assert dag.get_task("workspaces") in snap.upstream_list
        assert snap.retries >= 1 and snap.retry_exponential_backoff, (snap.retries, snap.retry_exponential_backoff)
        assert snap.max_retry_delay == timedelta(minutes=30)
        assert dag.get_task("workspaces").retries == 0

    check("DAG drata_etl: hourly, tasks workspaces -> snapshot (mapped), retries with backoff", shape)

    sys.path.insert(0, HERE)
    import drata_etl_dag as d  # the module DagBag loaded, imported again for its helpers

    def policy():
        assert d.classify(0) == "ok"
        for code in (64, 65, 77):
            assert d.classify(code) == "fail", code
        for code in (69, 75, 73, 70, 130):
            assert d.classify(code) == "retry", code

    check("exit codes: 64/65/77 fail without retry, 69/75 retry", policy)

    def run_at():
        import pendulum

        assert d.rfc3339(pendulum.datetime(2026, 1, 31, 3, tz="Europe/Berlin")) == "2026-01-31T02:00:00Z"

    check("--run-at is the data interval end in RFC 3339 UTC", run_at)

    def workspaces():
        assert d.load_workspaces('[{"label": "acme", "api_key_file": "/k"}]') == [
            {"label": "acme", "api_key_file": "/k"}
        ]
        for bad in ('[]', '[{"api_key_file": "/k"}]', '[{"label": "a", "api_key": "x"}]', '[{"label": "a"}, {"label": "a"}]'):
            try:
                d.load_workspaces(bad)
            except ValueError:
                continue
            raise AssertionError(f"accepted {bad}")
        argv = d.command({"label": "acme", "api_key_file": "/k", "config": "/c.toml"}, "2026-01-31T02:00:00Z", "x")
        assert argv == [
            "x", "run", "--workspace", "acme", "--run-at", "2026-01-31T02:00:00Z", "--progress", "never",
            "--api-key-file", "/k", "--config", "/c.toml",
        ], argv

    check("workspace list parsing and the command line", workspaces)

    if args.bin:
        env = {"DRATA_API_KEY": ""}  # only the key file counts
        ws = {"label": "acme", "api_key_file": args.key_file, "base_url": args.base_url, "out": args.out}
        run_at = args.run_at_utc + "Z"

        def task_command():
            summary = d.run_snapshot(ws, run_at, binary=args.bin, env=env)
            assert summary["status"] == "ok", summary
            assert summary["workspace"] == "acme", summary
            assert summary["run_at"] == run_at, summary
            print("XCOM " + json.dumps(summary))

        check("snapshot task against the server: JSON summary for XCom", task_command)

        def rerun_is_idempotent():
            again = d.run_snapshot(ws, run_at, binary=args.bin, env=env)
            assert again["snapshot_id"] == "".join(c for c in run_at if c not in "-:"), again

        check("a retry of the same interval rewrites the same snapshot", rerun_is_idempotent)

        if args.bad_key_file:

            def bad_key():
                try:
                    d.run_snapshot({**ws, "api_key_file": args.bad_key_file}, run_at, binary=args.bin, env=env)
                except AirflowFailException as e:
                    assert "exited 77" in str(e), e
                    return
                except AirflowException as e:
                    raise AssertionError(f"a rejected key must not be retried: {e}") from e
                raise AssertionError("a rejected key did not fail the task")

            check("a rejected key fails the task without retry (exit 77)", bad_key)

    print(f"check_dag: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    sys.exit(main())
