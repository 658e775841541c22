-- Active people with a linked identity (not disconnected, connection not deleted) without
-- MFA (`drata-etl report`: real.mfa_missing).
SELECT p.email, p.first_name, p.last_name, p.department, p.id,
       string_agg(DISTINCT coalesce(i.connection_client_type, '(none)'), ', ' ORDER BY coalesce(i.connection_client_type, '(none)')) AS connections
FROM personnel p
JOIN personnel_identities i ON i.personnel_id = p.id
WHERE coalesce(p.is_active, true) AND i.disconnected_at IS NULL AND i.connection_deleted_at IS NULL AND i.has_mfa = false
GROUP BY ALL
ORDER BY p.email, p.id;
