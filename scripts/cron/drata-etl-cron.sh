#!/bin/sh
# drata-etl-cron.sh WORKSPACE [more `drata-etl run` flags...]
#
# The cron entry point for one workspace: loads /etc/drata-etl/WORKSPACE.env (the env-file
# convention, see README.md; $DRATA_ETL_ENV_DIR overrides the folder), names the snapshot
# after the current hour (--run-at HH:00:00Z, so a rerun within the hour replaces it instead
# of adding one), and execs `drata-etl run`, whose exit code cron sees. No flock needed:
# drata-etl locks the output per workspace and a second run exits 75 at once.
#
# A manual rerun of an earlier hour: DRATA_ETL_RUN_AT=2026-01-31T02:00:00Z drata-etl-cron.sh acme
set -eu

ws="${1:?usage: drata-etl-cron.sh WORKSPACE [drata-etl run flags...]}"
shift
case "$ws" in
    *[!A-Za-z0-9_-]* | [!A-Za-z0-9]*)
        echo "drata-etl-cron: workspace '$ws' must be letters, digits, '-' or '_'" >&2
        exit 64
        ;;
esac

run_at="${DRATA_ETL_RUN_AT:-$(date -u +%Y-%m-%dT%H:00:00Z)}"
env_file="${DRATA_ETL_ENV_DIR:-/etc/drata-etl}/$ws.env"
if [ ! -r "$env_file" ]; then
    echo "drata-etl-cron: cannot read $env_file; create it (chmod 600) as scripts/cron/README.md describes" >&2
    exit 64
fi
mode="$(stat -c %a "$env_file" 2>/dev/null || echo 600)"
case "$mode" in
    600 | 400 | 640 | 440) ;;
    *) echo "drata-etl-cron: warning: $env_file has mode $mode; run chmod 600 on it" >&2 ;;
esac

set -a
# shellcheck disable=SC1090
. "$env_file"
set +a
unset DRATA_ETL_RUN_AT # the snapshot time comes from the clock (or the caller), never the file

echo "drata-etl-cron: $(date -u +%Y-%m-%dT%H:%M:%SZ) workspace $ws, snapshot $run_at" >&2
exec "${DRATA_ETL_BIN:-drata-etl}" run --workspace "$ws" --run-at "$run_at" --progress never "$@"
