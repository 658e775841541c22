-- Background check rows that changed (status or completed_at), appeared or disappeared,
-- matched by (person, ordinal), for people in both snapshots (`drata-etl diff`).
SELECT p.email, p.id, coalesce(f.ordinal, t.ordinal) AS ordinal,
       f.status AS from_status, f.completed_at AS from_completed_at,
       t.status AS to_status, t.completed_at AS to_completed_at
FROM personnel_background_checks_from f
FULL OUTER JOIN personnel_background_checks t ON t.personnel_id = f.personnel_id AND t.ordinal = f.ordinal
JOIN personnel p ON p.id = coalesce(f.personnel_id, t.personnel_id)
JOIN personnel_from pf ON pf.id = coalesce(f.personnel_id, t.personnel_id)
WHERE f.personnel_id IS NULL OR t.personnel_id IS NULL
   OR f.status IS DISTINCT FROM t.status OR f.completed_at IS DISTINCT FROM t.completed_at
ORDER BY p.email, p.id, ordinal;
