-- `drata-etl history offboarding` (table `leavers`; leavers as in history_audit_sample.sql).
-- first_inactive_date: the first snapshot after their last active one that shows them
-- inactive; inactive_lag_days = first_inactive_date - end_date (NULL when they were already
-- inactive in the window's first snapshot); still_active_after_end_date: active in the
-- window's last snapshot although end_date < its date. `problem` is set for the rows
-- `history offboarding` lists under `problems` (threshold: getvariable('max_lag_days'), 1).
WITH w AS (SELECT * FROM history_as_of),
per AS (
    SELECT id, max(snap) AS last_snap,
           arg_max_null(email, snap) AS email, arg_max_null(first_name, snap) AS first_name,
           arg_max_null(last_name, snap) AS last_name, arg_max_null(department, snap) AS department,
           arg_max_null(end_date, snap) AS end_date, arg_max_null(is_active, snap) AS is_active,
           max(snap) FILTER (coalesce(is_active, true)) AS last_active_snap,
           max(snapshot_date) FILTER (coalesce(is_active, true)) AS last_active_date
    FROM history_personnel GROUP BY id
), fi AS (
    SELECT h.id, min(h.snapshot_date) AS first_inactive_date, min(h.snap) AS first_inactive_snap
    FROM history_personnel h JOIN per ON per.id = h.id
    WHERE h.is_active = false AND h.snap > coalesce(per.last_active_snap, -1)
    GROUP BY h.id
), leavers AS (
    SELECT per.*, fi.first_inactive_date, coalesce(fi.first_inactive_snap = 0, false) AS inactive_before_window,
           coalesce(is_active, true) AND per.last_snap = w.last_snap AND coalesce(end_date < w.as_of, false) AS still_active_after_end_date
    FROM per LEFT JOIN fi ON fi.id = per.id, w
    WHERE end_date BETWEEN w.win_from AND w.win_to OR (is_active = false AND last_active_snap IS NOT NULL)
), out AS (
    SELECT email, first_name, last_name, department, id, end_date, is_active, last_active_date, first_inactive_date,
           CASE WHEN inactive_before_window THEN NULL ELSE CAST(first_inactive_date - end_date AS INTEGER) END AS inactive_lag_days,
           inactive_before_window, still_active_after_end_date,
           CASE WHEN still_active_after_end_date THEN CAST((SELECT as_of FROM w) - end_date AS INTEGER) END AS days_past_end_date
    FROM leavers
)
SELECT *, CASE
        WHEN still_active_after_end_date THEN 'still_active_after_end_date'
        WHEN inactive_lag_days > coalesce(CAST(getvariable('max_lag_days') AS INTEGER), 1) THEN 'inactive_lag_over_threshold'
    END AS problem
FROM out ORDER BY email NULLS LAST, id;
