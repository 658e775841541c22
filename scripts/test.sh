#!/usr/bin/env bash
# The project's one test command: `scripts/test.sh [cargo test args...]`.
#
# Makes sure .venv (repo root) has the Python packages the interoperability test needs
# (scripts/python-requirements.txt: duckdb, pyarrow), points that test at it through
# DRATA_ETL_PYTHON, then runs `cargo test --all-targets` with any extra arguments.
# Passing a target selection (e.g. `--test interop`) replaces --all-targets.
# Needs only Rust, python3 (with the venv module) and access to PyPI on the first run;
# reruns skip pip when the pinned versions are already installed.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
venv="$repo/.venv"
req="$repo/scripts/python-requirements.txt"
py="$venv/bin/python"

command -v cargo >/dev/null || { echo "test.sh: cargo not found on PATH" >&2; exit 1; }
command -v python3 >/dev/null || { echo "test.sh: python3 not found on PATH" >&2; exit 1; }

# (Re)create the venv when it is missing or broken (e.g. its base interpreter went away).
if ! "$py" -c 'import sys' >/dev/null 2>&1; then
    echo "test.sh: creating $venv" >&2
    python3 -m venv --clear "$venv"
fi

# Are the exact pins installed? (importlib.metadata: no pip start-up, no network.)
pins_satisfied() {
    "$py" - "$req" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        have = version(name.strip())
    except PackageNotFoundError:
        have = None
    if have != want.strip():
        ok = False
sys.exit(0 if ok else 1)
PY
}

if ! pins_satisfied; then
    echo "test.sh: installing $(grep -v '^\s*#' "$req" | xargs) into $venv" >&2
    "$py" -m pip install --quiet --disable-pip-version-check --only-binary=:all: -r "$req"
    pins_satisfied || { echo "test.sh: $req still not satisfied after pip install" >&2; exit 1; }
fi

export DRATA_ETL_PYTHON="$py"

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
