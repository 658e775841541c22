-- Active people whose compliance status is not compliant (NON_COMPLIANT in the guide, FAIL or
-- MISCONFIGURED in the real dialects: the `vocab` view) (`drata-etl report`: non_compliant_active).
SELECT email, first_name, last_name, department, id
FROM personnel
WHERE coalesce(is_active, true) AND list_contains((SELECT non_compliant FROM vocab), compliance_status)
ORDER BY email, id;
