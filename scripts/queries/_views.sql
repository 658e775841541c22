-- drata-etl: views over the COMMITTED snapshots of one output root, for the queries beside
-- this file. Run from the output root (paths are relative to it), this file first:
--
--   cd OUT && duckdb -c ".read /path/to/scripts/queries/_views.sql" -c ".read /path/to/scripts/queries/headcount.sql"
--
-- A snapshot exists once its _snapshots/[workspace=W/]<id>/_manifest.json does; the views
-- read exactly the Parquet files the chosen manifest lists (never a bare glob of the table
-- folders, which can briefly hold a partition whose commit has not finished).
--
-- Optional variables, set before reading this file:
--   SET VARIABLE workspace = 'acme';                 -- default: the only workspace (or none)
--   SET VARIABLE snapshot = '20260131T020000Z';      -- default: the latest ('latest' works too)
--   SET VARIABLE from_snapshot = '20260130T020000Z'; -- diff: default the one before snapshot

CREATE OR REPLACE TEMP VIEW manifests AS
SELECT snapshot_id, snapshot_date, workspace, CAST(run_at AS TIMESTAMPTZ) AS run_at, api_dialect, tables
FROM read_json('_snapshots/**/_manifest.json', format = 'auto', maximum_object_size = 1073741824, columns = {
    snapshot_id: 'VARCHAR', snapshot_date: 'VARCHAR', workspace: 'VARCHAR', run_at: 'VARCHAR', api_dialect: 'VARCHAR',
    tables: 'STRUCT(
        personnel STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_training STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_background_checks STRUCT(files STRUCT(path VARCHAR)[]),
        controls STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_org STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_compliance_checks STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_identities STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_devices STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_device_checks STRUCT(files STRUCT(path VARCHAR)[]),
        personnel_policies STRUCT(files STRUCT(path VARCHAR)[]))'
});

-- One row per committed file: (snapshot_id, tbl, path relative to the output root).
CREATE OR REPLACE TEMP VIEW committed_files AS
SELECT snapshot_id, workspace, tbl, unnest(files).path AS path
FROM (
    SELECT snapshot_id, workspace, 'personnel' AS tbl, tables.personnel.files AS files FROM manifests
    UNION ALL SELECT snapshot_id, workspace, 'personnel_training', tables.personnel_training.files FROM manifests
    UNION ALL SELECT snapshot_id, workspace, 'personnel_background_checks', tables.personnel_background_checks.files FROM manifests
    UNION ALL SELECT snapshot_id, workspace, 'controls', tables.controls.files FROM manifests
    UNION ALL SELECT snapshot_id, workspace, 'personnel_org', tables.personnel_org.files FROM manifests
    UNION ALL SELECT snapshot_id, workspace, 'personnel_compliance_checks', tables.personnel_compliance_checks.files FROM manifests
    UNION ALL SELECT snapshot_id, workspace, 'personnel_identities', tables.personnel_identities.files FROM manifests
    UNION ALL SELECT snapshot_id, workspace, 'personnel_devices', tables.personnel_devices.files FROM manifests
    UNION ALL SELECT snapshot_id, workspace, 'personnel_device_checks', tables.personnel_device_checks.files FROM manifests
    UNION ALL SELECT snapshot_id, workspace, 'personnel_policies', tables.personnel_policies.files FROM manifests
);

-- The workspace scope: the variable, else the only one present.
CREATE OR REPLACE TEMP VIEW scope AS
SELECT * FROM manifests
WHERE workspace IS NOT DISTINCT FROM coalesce(
    getvariable('workspace'),
    (SELECT CASE WHEN count(DISTINCT coalesce(workspace, '')) = 1 THEN any_value(workspace) END FROM manifests));

CREATE OR REPLACE TEMP VIEW chosen AS
SELECT snapshot_id, snapshot_date, run_at, api_dialect FROM scope
WHERE snapshot_id = coalesce(nullif(getvariable('snapshot'), 'latest'), (SELECT max_by(snapshot_id, run_at) FROM scope));

CREATE OR REPLACE TEMP VIEW chosen_from AS
SELECT snapshot_id, snapshot_date, run_at, api_dialect FROM scope
WHERE snapshot_id = coalesce(
    getvariable('from_snapshot'),
    (SELECT max_by(snapshot_id, run_at) FROM scope WHERE run_at < (SELECT run_at FROM chosen)));

-- What the chosen snapshot's statuses mean (its API dialect; `drata-etl report` uses the
-- same table, src/analyze/vocab.rs): the guide's COMPLIANT / NON_COMPLIANT, COMPLETED
-- trainings and PASSED checks; the real dialects' FULL_COMPLIANCE PASS / FAIL or
-- MISCONFIGURED, PASS trainings and OK background checks.
CREATE OR REPLACE TEMP VIEW vocab AS
SELECT CASE WHEN api_dialect IN ('v1', 'v2') THEN 'PASS' ELSE 'COMPLIANT' END AS compliant,
       CASE WHEN api_dialect IN ('v1', 'v2') THEN ['FAIL', 'MISCONFIGURED'] ELSE ['NON_COMPLIANT'] END AS non_compliant,
       CASE WHEN api_dialect IN ('v1', 'v2') THEN 'PASS' ELSE 'COMPLETED' END AS training_done,
       CASE WHEN api_dialect IN ('v1', 'v2') THEN 'OK' ELSE 'PASSED' END AS check_passed
FROM chosen;

-- Tables of the chosen snapshot (and of the diff's older one, *_from). union_by_name: files
-- written by older versions may lack newer columns.
CREATE OR REPLACE TEMP VIEW personnel AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));
CREATE OR REPLACE TEMP VIEW personnel_training AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel_training/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_training' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));
CREATE OR REPLACE TEMP VIEW personnel_background_checks AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel_background_checks/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_background_checks' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));
CREATE OR REPLACE TEMP VIEW controls AS
SELECT * EXCLUDE (filename) FROM read_parquet('controls/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'controls' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));
CREATE OR REPLACE TEMP VIEW personnel_compliance_checks AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel_compliance_checks/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_compliance_checks' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));

CREATE OR REPLACE TEMP VIEW personnel_from AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel' AND snapshot_id = (SELECT snapshot_id FROM chosen_from) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));
CREATE OR REPLACE TEMP VIEW personnel_training_from AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel_training/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_training' AND snapshot_id = (SELECT snapshot_id FROM chosen_from) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));
CREATE OR REPLACE TEMP VIEW personnel_background_checks_from AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel_background_checks/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_background_checks' AND snapshot_id = (SELECT snapshot_id FROM chosen_from) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));
CREATE OR REPLACE TEMP VIEW controls_from AS
SELECT * EXCLUDE (filename) FROM read_parquet('controls/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'controls' AND snapshot_id = (SELECT snapshot_id FROM chosen_from) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));

