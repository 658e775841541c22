-- drata-etl: views over the tables only the real dialects (v1/v2) fill, for the real_*.sql
-- queries; read after _views.sql (run.py reads it when the output root has these tables'
-- folders, i.e. was written by a version that writes them).
CREATE OR REPLACE TEMP VIEW personnel_identities AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel_identities/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_identities' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));

CREATE OR REPLACE TEMP VIEW personnel_devices AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel_devices/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_devices' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));

CREATE OR REPLACE TEMP VIEW personnel_device_checks AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel_device_checks/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_device_checks' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));

CREATE OR REPLACE TEMP VIEW personnel_policies AS
SELECT * EXCLUDE (filename) FROM read_parquet('personnel_policies/**/*.parquet', filename = true, hive_partitioning = false, union_by_name = true)
WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_policies' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope));
