-- `drata-etl history trend`: per snapshot (dimension = 'overall'), and per snapshot and
-- department / employment type: people, active (is_active not false), compliant (active and
-- COMPLIANT, or PASS on real dialects), non_compliant (NON_COMPLIANT, or FAIL or MISCONFIGURED on real dialects), share.
WITH p AS (
    SELECT snapshot_id, snapshot_date, snap, coalesce(department, '(none)') AS department,
           coalesce(employment_type, '(none)') AS employment_type,
           coalesce(is_active, true) AS active,
           coalesce(is_active, true) AND coalesce(compliance_status IN ('COMPLIANT', 'PASS'), false) AS compliant,
           coalesce(is_active, true) AND coalesce(compliance_status IN ('NON_COMPLIANT', 'FAIL', 'MISCONFIGURED'), false) AS non_compliant
    FROM history_personnel
), g AS (
    SELECT 'overall' AS dimension, snapshot_id, snapshot_date, snap, NULL AS value, count(*) AS people,
           count(*) FILTER (active) AS active, count(*) FILTER (compliant) AS compliant,
           count(*) FILTER (non_compliant) AS non_compliant FROM p GROUP BY ALL
    UNION ALL
    SELECT 'department', snapshot_id, snapshot_date, snap, department, count(*), count(*) FILTER (active),
           count(*) FILTER (compliant), count(*) FILTER (non_compliant) FROM p GROUP BY ALL
    UNION ALL
    SELECT 'employment_type', snapshot_id, snapshot_date, snap, employment_type, count(*), count(*) FILTER (active),
           count(*) FILTER (compliant), count(*) FILTER (non_compliant) FROM p GROUP BY ALL
)
SELECT dimension, snapshot_id, snapshot_date, value, people, active, compliant, non_compliant,
       CASE WHEN active > 0 THEN round(100.0 * compliant / active, 1) ELSE 0.0 END AS compliant_pct
FROM g ORDER BY dimension, snap, value;
