-- Compliance status by department among active people, with percentages
-- (`drata-etl report`: compliance_by_department).
SELECT coalesce(department, '(none)') AS department,
       coalesce(compliance_status, '(none)') AS compliance_status,
       count(*) AS people,
       round(100.0 * count(*) / sum(count(*)) OVER (PARTITION BY coalesce(department, '(none)')), 1) AS pct_of_department
FROM personnel
WHERE coalesce(is_active, true)
GROUP BY 1, 2
ORDER BY department, compliance_status;
