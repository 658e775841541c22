-- Headcount by employment type, active and inactive (`drata-etl report`: headcount).
SELECT coalesce(employment_type, '(none)') AS employment_type,
       count(*) FILTER (WHERE coalesce(is_active, true)) AS active,
       count(*) FILTER (WHERE is_active = false) AS inactive,
       count(*) AS total
FROM personnel
GROUP BY ALL
ORDER BY total DESC, employment_type;
