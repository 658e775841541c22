-- Devices failing compliance checks (`drata-etl report`: real.device_failures): per check
-- type, devices (not deleted) of active people whose check is not compliant, and their people.
WITH failing AS (
    SELECT DISTINCT c.personnel_id, c.device_id, coalesce(c.type, '(none)') AS check_type
    FROM personnel_device_checks c
    JOIN personnel_devices d ON d.personnel_id = c.personnel_id AND d.device_id = c.device_id AND d.deleted_at IS NULL
    JOIN personnel p ON p.id = c.personnel_id AND coalesce(p.is_active, true)
    WHERE list_contains((SELECT non_compliant FROM vocab), c.status)
)
SELECT check_type, count(*) AS devices, count(DISTINCT personnel_id) AS people
FROM failing GROUP BY 1 ORDER BY devices DESC, check_type;
