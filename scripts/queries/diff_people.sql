-- People added, removed, deactivated and reactivated between the older snapshot
-- (from_snapshot, default: the one before) and the chosen one (`drata-etl diff`). Empty when
-- there is no older snapshot.
SELECT 'added' AS change, t.email, t.first_name, t.last_name, t.department, t.id
FROM personnel t WHERE EXISTS (SELECT 1 FROM chosen_from) AND t.id NOT IN (SELECT id FROM personnel_from)
UNION ALL
SELECT 'removed', f.email, f.first_name, f.last_name, f.department, f.id
FROM personnel_from f WHERE f.id NOT IN (SELECT id FROM personnel)
UNION ALL
SELECT 'deactivated', t.email, t.first_name, t.last_name, t.department, t.id
FROM personnel t JOIN personnel_from f USING (id)
WHERE coalesce(f.is_active, true) AND t.is_active = false
UNION ALL
SELECT 'reactivated', t.email, t.first_name, t.last_name, t.department, t.id
FROM personnel t JOIN personnel_from f USING (id)
WHERE f.is_active = false AND coalesce(t.is_active, true)
ORDER BY change, email, id;
