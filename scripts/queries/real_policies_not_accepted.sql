-- Active people (policies fetched) with a current policy version that requires
-- acknowledgment and is not accepted (`drata-etl report`: real.policies_not_accepted).
SELECT p.email, p.first_name, p.last_name, p.department, p.id,
       string_agg(DISTINCT coalesce(pol.policy_name, '(none)'), ', ' ORDER BY coalesce(pol.policy_name, '(none)')) AS policies
FROM personnel p
JOIN personnel_policies pol ON pol.personnel_id = p.id
WHERE coalesce(p.is_active, true) AND p.policies_fetch_status = 'ok'
  AND pol.version_is_current AND pol.requires_acknowledgment AND pol.accepted_at IS NULL
GROUP BY ALL
ORDER BY p.email, p.id;
