-- Training completion per course among active people whose training list was fetched
-- (`drata-etl report`: trainings). Assigned: has a row of the course; completed: one of
-- those rows is done (COMPLETED in the guide, PASS in the real dialects).
WITH known AS (
    SELECT id FROM personnel WHERE coalesce(is_active, true) AND training_fetch_status = 'ok'
), per_person AS (
    SELECT t.personnel_id, coalesce(t.name, '(none)') AS course, bool_or(coalesce(t.status = (SELECT training_done FROM vocab), false)) AS done
    FROM personnel_training t JOIN known k ON k.id = t.personnel_id
    GROUP BY ALL
)
SELECT course, count(*) AS assigned, count(*) FILTER (WHERE done) AS completed,
       round(100.0 * count(*) FILTER (WHERE done) / count(*), 1) AS completed_pct,
       count(*) FILTER (WHERE NOT done) AS not_completed
FROM per_person
GROUP BY ALL
ORDER BY course;
