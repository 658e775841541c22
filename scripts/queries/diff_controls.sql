-- Controls whose owner changed, or that were added or removed (`drata-etl diff`: control_changes).
SELECT CASE WHEN f.id IS NULL THEN 'added' WHEN t.id IS NULL THEN 'removed' ELSE 'owner_changed' END AS change,
       coalesce(t.id, f.id) AS id, coalesce(t.name, f.name) AS name,
       f.owner_id AS from_owner_id, t.owner_id AS to_owner_id
FROM controls_from f FULL OUTER JOIN controls t ON t.id = f.id
WHERE EXISTS (SELECT 1 FROM chosen_from)
  AND (f.id IS NULL OR t.id IS NULL OR f.owner_id IS DISTINCT FROM t.owner_id)
ORDER BY change, id;
