-- `drata-etl history audit-sample`: one row per person and population (current, hires,
-- leavers) for the window [history_from, history_to]. Each person is described by their
-- latest record in the window and the training / background-check rows of that snapshot,
-- and the assigned policies of that snapshot (policies_assigned: its personnel_policies
-- rows, policies_accepted: those with accepted_at; both null for a person without rows
-- there, and null throughout when the window's snapshots have no personnel_policies rows,
-- where `drata-etl history audit-sample` leaves the two columns out).
--   current: in the window's last snapshot and active there
--   hires:   start_date inside the window
--   leavers: end_date inside the window, or active in one of its snapshots and inactive
--            in their latest record
WITH per AS (
    SELECT id, max(snap) AS last_snap,
           arg_max_null(email, snap) AS email, arg_max_null(first_name, snap) AS first_name,
           arg_max_null(last_name, snap) AS last_name, arg_max_null(department, snap) AS department,
           arg_max_null(employment_type, snap) AS employment_type,
           arg_max_null(start_date, snap) AS start_date, arg_max_null(end_date, snap) AS end_date,
           arg_max_null(is_active, snap) AS is_active, arg_max_null(compliance_status, snap) AS compliance_status,
           arg_max_null(training_fetch_status, snap) AS training_fetch_status,
           arg_max_null(background_check_fetch_status, snap) AS background_check_fetch_status,
           bool_or(coalesce(is_active, true)) AS ever_active
    FROM history_personnel GROUP BY id
), tr AS (
    SELECT t.personnel_id,
           min(t.completed_at) FILTER (t.status IN ('COMPLETED', 'PASS')) AS first_training_completed_at,
           count(*) FILTER (t.status IN ('COMPLETED', 'PASS')) AS trainings_completed,
           count(*) AS trainings_assigned
    FROM history_training t JOIN per ON per.id = t.personnel_id AND per.last_snap = t.snap
    GROUP BY ALL
), bg AS (
    SELECT b.personnel_id, arg_max_null(b.status, b.ordinal) AS background_check_status,
           bool_or(coalesce(b.status IN ('PASSED', 'OK'), false)) AS background_check_passed,
           max(b.completed_at) AS background_check_date
    FROM history_background_checks b JOIN per ON per.id = b.personnel_id AND per.last_snap = b.snap
    GROUP BY ALL
), pol AS (
    SELECT p.personnel_id, count(*) AS policies_assigned, count(p.accepted_at) AS policies_accepted
    FROM history_policies p JOIN per ON per.id = p.personnel_id AND per.last_snap = p.snap
    GROUP BY ALL
), sample AS (
    SELECT per.*, tr.first_training_completed_at,
           CASE WHEN per.start_date IS NULL THEN NULL
                ELSE coalesce(tr.first_training_completed_at - per.start_date <= 30, false) END AS training_within_30_days,
           tr.trainings_completed, tr.trainings_assigned,
           bg.background_check_status, bg.background_check_passed, bg.background_check_date,
           pol.policies_assigned, pol.policies_accepted
    FROM per LEFT JOIN tr ON tr.personnel_id = per.id LEFT JOIN bg ON bg.personnel_id = per.id
    LEFT JOIN pol ON pol.personnel_id = per.id
), w AS (SELECT * FROM history_as_of)
SELECT population, email, first_name, last_name, department, id, employment_type, start_date, end_date,
       is_active, compliance_status, first_training_completed_at, training_within_30_days,
       trainings_completed, trainings_assigned, background_check_status, background_check_passed,
       background_check_date, policies_assigned, policies_accepted, training_fetch_status,
       background_check_fetch_status
FROM (
    SELECT 'current' AS population, sample.* FROM sample, w WHERE sample.last_snap = w.last_snap AND coalesce(is_active, true)
    UNION ALL
    SELECT 'hires', sample.* FROM sample, w WHERE start_date BETWEEN w.win_from AND w.win_to
    UNION ALL
    SELECT 'leavers', sample.* FROM sample, w
    WHERE end_date BETWEEN w.win_from AND w.win_to OR (is_active = false AND ever_active)
)
ORDER BY population, email NULLS LAST, id;
