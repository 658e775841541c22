-- `drata-etl history training-due`, as of the window's last snapshot (tbl = 'new_hires' or
-- 'expiring_trainings'):
--   new_hires: active people whose start_date is inside the window (and whose training list
--     was fetched) with no completed training (COMPLETED or PASS) by start_date + 30 days:
--     overdue (deadline passed), due (not yet), trained_late;
--   expiring_trainings (only with getvariable('training_valid_days')): completed trainings
--     whose completed_at + validity falls within getvariable('within_days') (30) of as_of.
WITH w AS (SELECT * FROM history_as_of),
p AS (SELECT h.* FROM history_personnel h, w WHERE h.snap = w.last_snap AND coalesce(h.is_active, true)),
t AS (SELECT h.* FROM history_training h, w WHERE h.snap = w.last_snap),
firsts AS (
    SELECT personnel_id, min(completed_at) FILTER (status IN ('COMPLETED', 'PASS')) AS first_training_completed_at
    FROM t GROUP BY personnel_id
), hires AS (
    SELECT p.email, p.first_name, p.last_name, p.department, p.id, p.start_date,
           CAST(p.start_date + 30 AS DATE) AS deadline, f.first_training_completed_at
    FROM p LEFT JOIN firsts f ON f.personnel_id = p.id, w
    WHERE p.start_date BETWEEN w.win_from AND w.as_of AND p.training_fetch_status = 'ok'
)
SELECT 'new_hires' AS tbl, email, first_name, last_name, department, id, start_date AS date1, deadline AS date2,
       first_training_completed_at AS date3,
       CASE WHEN first_training_completed_at IS NULL AND deadline < (SELECT as_of FROM w) THEN 'overdue'
            WHEN first_training_completed_at IS NULL THEN 'due'
            WHEN first_training_completed_at > deadline THEN 'trained_late' END AS status,
       NULL AS days_left
FROM hires
WHERE first_training_completed_at IS NULL OR first_training_completed_at > deadline
UNION ALL
SELECT 'expiring_trainings', p.email, p.first_name, p.last_name, p.department, p.id, t.completed_at,
       CAST(t.completed_at + CAST(getvariable('training_valid_days') AS INTEGER) AS DATE), NULL, t.name,
       CAST(t.completed_at + CAST(getvariable('training_valid_days') AS INTEGER) - w.as_of AS INTEGER)
FROM t JOIN p ON p.id = t.personnel_id, w
WHERE getvariable('training_valid_days') IS NOT NULL AND t.status IN ('COMPLETED', 'PASS')
  AND t.completed_at + CAST(getvariable('training_valid_days') AS INTEGER)
      BETWEEN w.as_of AND w.as_of + coalesce(CAST(getvariable('within_days') AS INTEGER), 30)
ORDER BY tbl DESC, date2 NULLS LAST, email NULLS LAST, id, status;
