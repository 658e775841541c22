#!/usr/bin/env bash
# The project's one test command: `scripts/test.sh [cargo test args...]`.
#
# Makes sure .venv (repo root) has the Python packages the interoperability tests need
# (scripts/python-requirements.txt: duckdb, pyarrow, and moto's S3 server), .venv-airflow has the pinned Apache
# Airflow the DAG check needs (scripts/airflow/requirements.txt), .venv-dbt dbt-duckdb
# (scripts/dbt/requirements.txt) and .venv-spark PySpark (scripts/spark/requirements.txt;
# plus Java 17+, apt-installed as openjdk-17-jre-headless when missing and run as root),
# points the tests at them through DRATA_ETL_PYTHON, DRATA_ETL_AIRFLOW_PYTHON, DRATA_ETL_DBT
# and DRATA_ETL_SPARK_PYTHON, then runs `cargo test --all-targets` with any extra arguments.
# Passing a target selection (e.g. `--test integration interop::`) replaces --all-targets.
# Also installs Azurite (the Azure Storage emulator) from npm into .azurite for the az:// test.
# Needs only Rust, python3 (with the venv module), npm, Java 17+ (or root with apt-get), and
# access to PyPI and npm on the first run;
# reruns skip pip when the pinned versions are already installed (the first Airflow install
# takes a minute or two).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

command -v cargo >/dev/null || { echo "test.sh: cargo not found on PATH" >&2; exit 1; }
command -v python3 >/dev/null || { echo "test.sh: python3 not found on PATH" >&2; exit 1; }

# Are the exact pins of requirements file $2 installed in interpreter $1?
# (importlib.metadata: no pip start-up, no network.)
pins_satisfied() {
    "$1" - "$2" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    name = name.split("[", 1)[0]  # moto[s3,server] is the package moto
    try:
        have = version(name.strip())
    except PackageNotFoundError:
        have = None
    if have != want.strip():
        ok = False
sys.exit(0 if ok else 1)
PY
}

# ensure_venv VENV REQUIREMENTS [pip args...]: (re)create VENV when missing or broken (e.g.
# its base interpreter went away) and install REQUIREMENTS unless already satisfied.
ensure_venv() {
    local venv="$1" req="$2"
    shift 2
    local py="$venv/bin/python"
    if ! "$py" -c 'import sys' >/dev/null 2>&1; then
        echo "test.sh: creating $venv" >&2
        python3 -m venv --clear "$venv"
    fi
    if ! pins_satisfied "$py" "$req"; then
        echo "test.sh: installing $req into $venv" >&2
        "$py" -m pip install --quiet --disable-pip-version-check "$@" -r "$req"
        pins_satisfied "$py" "$req" || { echo "test.sh: $req still not satisfied after pip install" >&2; exit 1; }
    fi
}

py="$repo/.venv/bin/python"
ensure_venv "$repo/.venv" "$repo/scripts/python-requirements.txt" --only-binary=:all:

# Apache Airflow for the DAG check (tests/integration/airflow_dag.rs): a venv of its own, pinned by
# scripts/airflow/requirements.txt (one sdist, python-nvd3, so no --only-binary).
airflow_py="$repo/.venv-airflow/bin/python"
ensure_venv "$repo/.venv-airflow" "$repo/scripts/airflow/requirements.txt"
export DRATA_ETL_AIRFLOW_PYTHON="$airflow_py"

# dbt with the DuckDB adapter for the dbt project's check (tests/integration/dbt_e2e.rs and
# scripts/dbt/): a venv of its own, pinned by scripts/dbt/requirements.txt.
ensure_venv "$repo/.venv-dbt" "$repo/scripts/dbt/requirements.txt" --only-binary=:all:
export DRATA_ETL_DBT="$repo/.venv-dbt/bin/dbt"

# PySpark for the Spark read of the layout (tests/integration/spark_e2e.rs): a venv of its own,
# pinned by scripts/spark/requirements.txt (pyspark is an sdist: no --only-binary), and Java 17+.
ensure_venv "$repo/.venv-spark" "$repo/scripts/spark/requirements.txt"
export DRATA_ETL_SPARK_PYTHON="$repo/.venv-spark/bin/python"

# java_major JAVA: the major version `JAVA -version` reports ("1.8.0_402" -> 8, "17.0.15" ->
# 17), 0 when it does not run.
java_major() {
    { "$1" -version 2>&1 || true; } | awk -F'"' '
        /version "/ { split($2, v, /[.+_-]/); print (v[1] == 1 ? v[2] : v[1]) + 0; found = 1; exit }
        END { if (!found) print 0 }'
}
# Debian's OpenJDK 17, if installed: point Spark at it (JAVA_HOME), since another java may be
# first on PATH. Returns non-zero when there is none.
use_debian_jre() {
    local jre
    for jre in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
        if [ "$(java_major "$jre")" -ge 17 ]; then
            export JAVA_HOME="${jre%/bin/java}"
            java="$jre"
            return 0
        fi
    done
    return 1
}
# Spark runs $JAVA_HOME/bin/java when JAVA_HOME is set, else java on PATH.
java="${JAVA_HOME:+$JAVA_HOME/bin/java}"
java="${java:-java}"
if [ "$(java_major "$java")" -lt 17 ] && ! use_debian_jre; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "test.sh: installing openjdk-17-jre-headless (Spark needs Java 17 or later)" >&2
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless >&2
    fi
    use_debian_jre || {
        echo "test.sh: the Spark test needs Java 17 or later and '$java' is not (or does not run):" \
            "install a Java 17+ runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) and" \
            "put its java on PATH or set JAVA_HOME to it" >&2
        exit 1
    }
fi

export DRATA_ETL_PYTHON="$py"

# Azurite, Microsoft's Azure Storage emulator, for the az:// test (tests/object_store_e2e.rs),
# from the npm registry into .azurite (pinned; reinstalled only when the pin changes).
azurite_version=3.35.0
azurite="$repo/.azurite/node_modules/.bin/azurite-blob"
if ! grep -qs "\"version\": \"$azurite_version\"" "$repo/.azurite/node_modules/azurite/package.json"; then
    command -v npm >/dev/null || { echo "test.sh: npm not found on PATH (needed to install Azurite for the az:// test)" >&2; exit 1; }
    echo "test.sh: installing azurite@$azurite_version into .azurite" >&2
    npm install --silent --no-audit --no-fund --prefix "$repo/.azurite" "azurite@$azurite_version" >&2
fi
export DRATA_ETL_AZURITE="$azurite"

# --all-targets unless the caller picked targets (cargo would run the union otherwise).
targets=(--all-targets)
for arg in "$@"; do
    case "$arg" in
        --) break ;;
        --lib | --bin | --bin=* | --bins | --test | --test=* | --tests | --bench | --bench=* | --benches | \
            --example | --example=* | --examples | --doc | --all-targets)
            targets=()
            break
            ;;
    esac
done

exec cargo test ${targets[@]+"${targets[@]}"} "$@"
