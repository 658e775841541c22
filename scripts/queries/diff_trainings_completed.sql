-- Trainings newly completed (a done row now, per `vocab`, none before for that person and course),
-- for people in both snapshots (`drata-etl diff`: trainings_completed).
WITH done_to AS (
    SELECT personnel_id, coalesce(name, '(none)') AS course, max(completed_at) AS completed_at
    FROM personnel_training WHERE status = (SELECT training_done FROM vocab) GROUP BY ALL
), done_from AS (
    SELECT DISTINCT personnel_id, coalesce(name, '(none)') AS course
    FROM personnel_training_from WHERE status = (SELECT training_done FROM vocab)
)
SELECT p.email, p.first_name, p.last_name, p.department, p.id, d.course, d.completed_at
FROM done_to d
JOIN personnel p ON p.id = d.personnel_id
JOIN personnel_from pf ON pf.id = d.personnel_id
WHERE NOT EXISTS (SELECT 1 FROM done_from x WHERE x.personnel_id = d.personnel_id AND x.course = d.course)
ORDER BY p.email, p.id, d.course;
