-- Active people whose compliance status is NON_COMPLIANT (`drata-etl report`: non_compliant_active).
SELECT email, first_name, last_name, department, id
FROM personnel
WHERE coalesce(is_active, true) AND compliance_status = 'NON_COMPLIANT'
ORDER BY email, id;
