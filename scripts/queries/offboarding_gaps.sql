-- Offboarding gaps (`drata-etl report`): inactive people without an end_date, and people
-- still active although their end_date is before the snapshot date.
SELECT 'inactive_without_end_date' AS gap, email, first_name, last_name, department, id, end_date
FROM personnel
WHERE is_active = false AND end_date IS NULL
UNION ALL
SELECT 'active_past_end_date', email, first_name, last_name, department, id, end_date
FROM personnel
WHERE coalesce(is_active, true) AND end_date < (SELECT CAST(snapshot_date AS DATE) FROM chosen)
ORDER BY gap, email, id;
