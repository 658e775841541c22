-- Why active people are not compliant (real dialects): per compliance check type other than
-- FULL_COMPLIANCE, how many active non-compliant people fail it (`drata-etl report`:
-- failing_checks). Guide snapshots carry no compliance checks: no rows.
SELECT coalesce(c.type, '(none)') AS check_type, count(DISTINCT c.personnel_id) AS people
FROM personnel_compliance_checks c
JOIN personnel p ON p.id = c.personnel_id
WHERE coalesce(p.is_active, true)
  AND list_contains((SELECT non_compliant FROM vocab), p.compliance_status)
  AND list_contains((SELECT non_compliant FROM vocab), c.status)
  AND coalesce(c.type, '') <> 'FULL_COMPLIANCE'
GROUP BY 1
ORDER BY people DESC, check_type;
