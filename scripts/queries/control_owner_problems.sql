-- Controls with no owner, or owned by an inactive or unknown person
-- (`drata-etl report`: control_problems).
SELECT CASE WHEN c.owner_id IS NULL THEN 'no_owner'
            WHEN p.id IS NULL THEN 'owner_unknown'
            ELSE 'owner_inactive' END AS problem,
       c.id, c.name, c.owner_id, p.email AS owner_email
FROM controls c LEFT JOIN personnel p ON p.id = c.owner_id
WHERE c.owner_id IS NULL OR p.id IS NULL OR p.is_active = false
ORDER BY problem, c.id;
