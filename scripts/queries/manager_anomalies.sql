-- Manager references that dangle (manager_id names nobody in the snapshot) or form a cycle,
-- from the derived personnel_org table (`drata-etl report`: dangling_manager, manager_cycles).
-- Snapshots written before personnel_org existed lack it; the CLI derives it on the fly.
WITH org AS (
    SELECT * EXCLUDE (filename) FROM read_parquet('personnel_org/**/*.parquet', filename = true, hive_partitioning = false)
    WHERE filename IN (SELECT path FROM committed_files WHERE tbl = 'personnel_org' AND snapshot_id = (SELECT snapshot_id FROM chosen) AND workspace IS NOT DISTINCT FROM (SELECT any_value(workspace) FROM scope))
)
SELECT CASE WHEN o.manager_dangling THEN 'dangling' ELSE 'cycle' END AS anomaly,
       p.email, p.first_name, p.last_name, p.department, o.id,
       CASE WHEN o.manager_dangling THEN o.manager_id ELSE array_to_string(o.chain, ' > ') END AS detail
FROM org o LEFT JOIN personnel p ON p.id = o.id
WHERE o.manager_dangling OR o.in_cycle
ORDER BY anomaly, p.email, o.id;
