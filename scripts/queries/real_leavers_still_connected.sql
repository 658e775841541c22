-- Inactive people past their end_date with an identity still linked (`drata-etl report`:
-- real.leavers_still_connected); days since the end date at the snapshot's date.
SELECT p.email, p.first_name, p.last_name, p.department, p.id,
       CAST((SELECT snapshot_date FROM chosen) AS DATE) - p.end_date AS days_since_end_date,
       string_agg(DISTINCT coalesce(i.connection_client_type, '(none)'), ', ' ORDER BY coalesce(i.connection_client_type, '(none)')) AS connections
FROM personnel p
JOIN personnel_identities i ON i.personnel_id = p.id
WHERE p.is_active = false AND p.end_date < CAST((SELECT snapshot_date FROM chosen) AS DATE)
  AND i.disconnected_at IS NULL AND i.connection_deleted_at IS NULL
GROUP BY ALL
ORDER BY p.email, p.id;
