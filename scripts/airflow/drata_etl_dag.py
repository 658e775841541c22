"""drata-etl on Apache Airflow: an hourly snapshot of every configured Drata workspace.

One DAG, ``drata_etl``, scheduled ``@hourly``. Its ``workspaces`` task reads the list of
workspaces at run time; ``snapshot`` is mapped over that list, one task instance per
workspace, each running::

    drata-etl run --workspace LABEL --run-at DATA_INTERVAL_END [--api-key-file F] [--config C] ...

``--run-at`` is the data interval's end in RFC 3339 (``{{ data_interval_end }}``, UTC), so a
retry or a backfill of the same interval rewrites the same snapshot instead of adding one.

Exit codes (see the README's table) decide retries:

- 0: success; the JSON summary line (drata-etl's last stdout line) is the task's XCom value.
- 64 usage/config, 65 data failed validation, 77 auth/permission/wrong host: fixing needs a
  person, so the task fails at once without retrying (``AirflowFailException``).
- 69 API unavailable, 75 temporary (rate limit, deadline, another run holds the lock) and
  anything else: ``AirflowException``, retried with exponential backoff.

Configuration (nothing secret is stored in Airflow):

- Airflow Variable ``drata_etl_workspaces`` (JSON), else the JSON file named by
  ``$DRATA_ETL_WORKSPACES_FILE`` (default ``/etc/drata-etl/workspaces.json``), else one
  workspace ``default`` with the key file ``/etc/drata-etl/default.key``. The JSON is a list
  of objects: ``label`` (required), and optionally ``api_key_file``, ``config`` (a drata-etl
  TOML config file), ``base_url``, ``out``, ``metrics_file``. Example::

      [{"label": "acme", "api_key_file": "/etc/drata-etl/acme.key", "config": "/etc/drata-etl/acme.toml"}]

- ``$DRATA_ETL_BIN``: the binary (default ``drata-etl`` on PATH). Every other drata-etl
  environment variable (``DRATA_ETL_OUT``, ``DRATA_ETL_DEADLINE``, ...) passes through.

The API key stays in the key file (chmod 600, readable by the Airflow worker's user) and
never appears in argv, XCom or the task log.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException

log = logging.getLogger(__name__)

DAG_ID = "drata_etl"
VARIABLE = "drata_etl_workspaces"
DEFAULT_WORKSPACES_FILE = "/etc/drata-etl/workspaces.json"
DEFAULT_WORKSPACES = [{"label": "default", "api_key_file": "/etc/drata-etl/default.key"}]

#: Exit codes that a retry cannot fix: fail the task at once.
NO_RETRY = {64: "usage or configuration", 65: "data failed validation", 77: "auth, permission or wrong host"}
#: Exit codes that mean "try again later".
RETRY = {69: "API unavailable after retries", 75: "temporary (rate limit, deadline, or another run holds the lock)"}

ENTRY_FLAGS = {
    "api_key_file": "--api-key-file",
    "config": "--config",
    "base_url": "--base-url",
    "out": "--out",
    "metrics_file": "--metrics-file",
}


def rfc3339(moment: datetime) -> str:
    """A datetime as RFC 3339 in UTC with a Z, e.g. 2026-01-31T02:00:00Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_workspaces(value: Any, origin: str) -> list[dict]:
    """Check the workspace list's shape; raise ValueError naming what is wrong."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"{origin}: expected a non-empty JSON list of workspaces")
    labels = set()
    for i, w in enumerate(value):
        if not isinstance(w, dict) or not isinstance(w.get("label"), str) or not w["label"]:
            raise ValueError(f"{origin}: entry {i} needs a string 'label'")
        unknown = set(w) - {"label", *ENTRY_FLAGS}
        if unknown:
            raise ValueError(f"{origin}: entry {w['label']!r} has unknown keys {sorted(unknown)}")
        if "api_key" in w:
            raise ValueError(f"{origin}: never put the key itself here; use api_key_file")
        if w["label"] in labels:
            raise ValueError(f"{origin}: label {w['label']!r} appears twice")
        labels.add(w["label"])
    return value


def load_workspaces(variable_value: str | None = None) -> list[dict]:
    """The workspaces to snapshot: the Variable's JSON, else the JSON file, else the default."""
    if variable_value:
        return validate_workspaces(json.loads(variable_value), f"Airflow Variable {VARIABLE}")
    path = os.environ.get("DRATA_ETL_WORKSPACES_FILE", DEFAULT_WORKSPACES_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return validate_workspaces(json.load(f), path)
    log.warning("no Variable %s and no %s: snapshotting the default workspace only", VARIABLE, path)
    return DEFAULT_WORKSPACES


def command(workspace: dict, run_at: str, binary: str | None = None) -> list[str]:
    """The drata-etl command line for one workspace (no secrets in it)."""
    argv = [binary or os.environ.get("DRATA_ETL_BIN", "drata-etl"), "run"]
    argv += ["--workspace", workspace["label"], "--run-at", run_at, "--progress", "never"]
    for key, flag in ENTRY_FLAGS.items():
        if workspace.get(key):
            argv += [flag, str(workspace[key])]
    return argv


def classify(code: int) -> str:
    """'ok', 'fail' (no retry) or 'retry' for a drata-etl exit code."""
    if code == 0:
        return "ok"
    return "fail" if code in NO_RETRY else "retry"


def last_json_line(stdout: str) -> dict | None:
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    try:
        value = json.loads(lines[-1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def run_snapshot(workspace: dict, run_at: str, binary: str | None = None, env: dict | None = None) -> dict:
    """Run drata-etl for one workspace; return its JSON summary (the XCom value) or raise.

    stderr (drata-etl's logs) goes to the task log line by line; stdout is kept for the
    summary line. Raises AirflowFailException for 64/65/77, AirflowException otherwise.
    """
    argv = command(workspace, run_at, binary)
    log.info("running %s", " ".join(argv))
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.info("drata-etl: %s", line.rstrip())

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    code = proc.wait()
    pumper.join(timeout=5)

    summary = last_json_line(stdout)
    verdict = classify(code)
    if verdict == "ok":
        if summary is None:
            raise AirflowException(f"drata-etl exited 0 but its last stdout line is not JSON: {stdout[-500:]!r}")
        log.info("snapshot %s committed: %s", summary.get("snapshot_id"), summary.get("rows"))
        return summary
    message = (summary or {}).get("message") or stdout[-500:]
    if verdict == "fail":
        raise AirflowFailException(
            f"drata-etl exited {code} ({NO_RETRY[code]}); not retrying, a person must fix this: {message}"
        )
    why = RETRY.get(code, "unexpected failure")
    raise AirflowException(f"drata-etl exited {code} ({why}); Airflow will retry with backoff: {message}")


@dag(
    dag_id=DAG_ID,
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["drata", "compliance", "etl"],
    doc_md=__doc__,
    default_args={
        "owner": "data-platform",
        "retries": 4,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
)
def drata_etl():
    @task(retries=0)
    def workspaces() -> list[dict]:
        from airflow.models import Variable

        return load_workspaces(Variable.get(VARIABLE, default_var=None))

    @task(map_index_template="{{ workspace_label }}", execution_timeout=timedelta(minutes=55))
    def snapshot(workspace: dict, data_interval_end=None) -> dict:
        from airflow.operators.python import get_current_context

        get_current_context()["workspace_label"] = workspace["label"]
        return run_snapshot(workspace, rfc3339(data_interval_end))

    snapshot.expand(workspace=workspaces())


drata_etl()
