-- Compliance status transitions (from -> to, with counts) of people in both snapshots
-- (`drata-etl diff`: compliance_transitions).
SELECT coalesce(f.compliance_status, '(none)') AS from_status,
       coalesce(t.compliance_status, '(none)') AS to_status,
       count(*) AS people
FROM personnel t JOIN personnel_from f USING (id)
WHERE coalesce(f.compliance_status, '(none)') <> coalesce(t.compliance_status, '(none)')
GROUP BY ALL
ORDER BY people DESC, from_status, to_status;
