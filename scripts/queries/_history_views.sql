-- drata-etl: views over EVERY committed snapshot of a window, for the history_*.sql queries
-- beside this file (the DuckDB equivalents of `drata-etl history ...`). Read after
-- _views.sql (it defines `scope`, the workspace's manifests), from the output root:
--
--   cd OUT && duckdb -c "SET VARIABLE history_from = '2026-01-01'" \
--     -c ".read /path/to/scripts/queries/_views.sql" -c ".read /path/to/scripts/queries/_history_views.sql" \
--     -c ".read /path/to/scripts/queries/history_streaks.sql"
--
-- (scripts/queries/run.py OUT --var history_from=2026-01-01 history_streaks does the same.)
--
-- Variables (all optional), set before reading this file:
--   SET VARIABLE history_from = '2026-01-01';  -- window's first day (default: the oldest snapshot)
--   SET VARIABLE history_to = '2026-03-31';    -- window's last day, included (default: the latest)
--   SET VARIABLE days = 5;                     -- history_streaks: alert threshold in days
--   SET VARIABLE max_lag_days = 1;             -- history_offboarding: the longest acceptable lag
--   SET VARIABLE within_days = 30;             -- history_training_due: the horizon
--   SET VARIABLE training_valid_days = 365;    -- history_training_due: a completion's validity
--
-- Tables written by older versions lack newer columns (union_by_name fills nulls); tables
-- missing from a snapshot's manifest add no rows. Gaps (missing nights) are skipped: `snap`
-- numbers the snapshots that exist, oldest first, in the catalogue's order (by id).

CREATE OR REPLACE TEMP VIEW history_snapshots AS
SELECT snapshot_id, workspace, CAST(snapshot_date AS DATE) AS snapshot_date, run_at,
       CAST(row_number() OVER (ORDER BY snapshot_id) - 1 AS INTEGER) AS snap
FROM scope
WHERE CAST(snapshot_date AS DATE) >= coalesce(CAST(getvariable('history_from') AS DATE), DATE '0001-01-01')
  AND CAST(snapshot_date AS DATE) <= coalesce(CAST(getvariable('history_to') AS DATE), DATE '9999-12-31');

CREATE OR REPLACE TEMP VIEW history_as_of AS
SELECT max(snapshot_date) AS as_of, max(snap) AS last_snap,
       coalesce(CAST(getvariable('history_from') AS DATE), min(snapshot_date)) AS win_from,
       coalesce(CAST(getvariable('history_to') AS DATE), max(snapshot_date)) AS win_to
FROM history_snapshots;

CREATE OR REPLACE TEMP VIEW history_manifests AS
SELECT snapshot_id, workspace, tables
FROM read_json('_snapshots/**/_manifest.json', format = 'auto', maximum_object_size = 1073741824, columns = {
    snapshot_id: 'VARCHAR', workspace: 'VARCHAR',
    tables: 'STRUCT(
        personnel STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_training STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_background_checks STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_compliance_checks STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_policies STRUCT(files STRUCT(path VARCHAR)[]))'
});

CREATE OR REPLACE TEMP VIEW history_files AS
SELECT s.snapshot_id, s.snapshot_date, s.snap, f.tbl, f.path
FROM history_snapshots s
JOIN (
    SELECT snapshot_id, workspace, tbl, unnest(files).path AS path FROM (
        SELECT snapshot_id, workspace, 'personnel' AS tbl, tables.personnel.files AS files FROM history_manifests
        UNION ALL SELECT snapshot_id, workspace, 'personnel_training', tables.personnel_training.files FROM history_manifests
        UNION ALL SELECT snapshot_id, workspace, 'personnel_background_checks', tables.personnel_background_checks.files FROM history_manifests
        UNION ALL SELECT snapshot_id, workspace, 'personnel_compliance_checks', tables.personnel_compliance_checks.files FROM history_manifests
        UNION ALL SELECT snapshot_id, workspace, 'personnel_policies', tables.personnel_policies.files FROM history_manifests)
) f ON f.snapshot_id = s.snapshot_id AND f.workspace IS NOT DISTINCT FROM s.workspace;

CREATE OR REPLACE TEMP VIEW history_personnel AS
SELECT p.* EXCLUDE (filename), f.snap, f.snapshot_id, f.snapshot_date
FROM read_parquet('personnel/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true) p
JOIN history_files f ON f.tbl = 'personnel' AND f.path = p.filename;

CREATE OR REPLACE TEMP VIEW history_training AS
SELECT t.* EXCLUDE (filename), f.snap, f.snapshot_id, f.snapshot_date
FROM read_parquet('personnel_training/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true) t
JOIN history_files f ON f.tbl = 'personnel_training' AND f.path = t.filename;

CREATE OR REPLACE TEMP VIEW history_background_checks AS
SELECT b.* EXCLUDE (filename), f.snap, f.snapshot_id, f.snapshot_date
FROM read_parquet('personnel_background_checks/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true) b
JOIN history_files f ON f.tbl = 'personnel_background_checks' AND f.path = b.filename;

-- Assigned policies (v2 runs of versions that record them): roots written by other runs may
-- have no personnel_policies folder at all, and read_parquet fails on a pattern matching no
-- file, so the view reads the folder only when the window's manifests list a file of it
-- (else it is empty, with the columns the queries use).
SET VARIABLE history_policies_source = (
    SELECT CASE WHEN count(*) = 0
        THEN 'SELECT CAST(NULL AS VARCHAR) AS personnel_id, CAST(NULL AS TIMESTAMPTZ) AS accepted_at, CAST(NULL AS VARCHAR) AS filename WHERE false'
        ELSE 'SELECT personnel_id, accepted_at, filename FROM read_parquet(''personnel_policies/**/*.parquet'', filename = true, hive_partitioning = false, union_by_name = true)'
    END
    FROM history_files WHERE tbl = 'personnel_policies');

CREATE OR REPLACE TEMP VIEW history_policies AS
SELECT p.* EXCLUDE (filename), f.snap, f.snapshot_id, f.snapshot_date
FROM query(getvariable('history_policies_source')) p
JOIN history_files f ON f.tbl = 'personnel_policies' AND f.path = p.filename;
