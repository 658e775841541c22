-- Who has not completed each course (active people assigned it, list fetched).
WITH known AS (
    SELECT id FROM personnel WHERE coalesce(is_active, true) AND training_fetch_status = 'ok'
), per_person AS (
    SELECT t.personnel_id, coalesce(t.name, '(none)') AS course, bool_or(coalesce(t.status = (SELECT training_done FROM vocab), false)) AS done
    FROM personnel_training t JOIN known k ON k.id = t.personnel_id
    GROUP BY ALL
)
SELECT pp.course, p.email, p.first_name, p.last_name, p.department, p.id
FROM per_person pp JOIN personnel p ON p.id = pp.personnel_id
WHERE NOT pp.done
ORDER BY pp.course, p.email, p.id;
