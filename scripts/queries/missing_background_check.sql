-- Active people (background checks fetched) without a passed background check (PASSED in the guide, OK in the real dialects)
-- (`drata-etl report`: without_passed_background_check).
SELECT p.email, p.first_name, p.last_name, p.department, p.id
FROM personnel p
WHERE coalesce(p.is_active, true) AND p.background_check_fetch_status = 'ok'
  AND NOT EXISTS (SELECT 1 FROM personnel_background_checks b WHERE b.personnel_id = p.id AND b.status = (SELECT check_passed FROM vocab))
ORDER BY p.email, p.id;
