-- `drata-etl history streaks` (table `people`; `alerts` = status not compliant (NON_COMPLIANT, or FAIL or MISCONFIGURED on real dialects: src/analyze/vocab.rs) and days >
-- getvariable('days')). State: INACTIVE when is_active is false, else compliance_status.
-- Streaks as islands: a new island starts where the state differs from the person's
-- previous snapshot (gaps and snapshots without the person are skipped, not changes);
-- since = first day of the person's last island; days = last snapshot's date - since.
WITH r AS (
    SELECT id, email, first_name, last_name, department, snap, snapshot_date,
           CASE WHEN is_active = false THEN 'INACTIVE' ELSE coalesce(compliance_status, '(none)') END AS state
    FROM history_personnel
), flagged AS (
    SELECT *, CASE WHEN lag(state) OVER w IS NOT NULL AND lag(state) OVER w <> state THEN 1 ELSE 0 END AS changed
    FROM r WINDOW w AS (PARTITION BY id ORDER BY snap)
), islands AS (
    SELECT *, sum(changed) OVER (PARTITION BY id ORDER BY snap) AS island FROM flagged
), per AS (
    SELECT id, max(snap) AS last_snap, max(island) AS last_island,
           arg_max_null(state, snap) AS status, arg_max_null(email, snap) AS email,
           arg_max_null(first_name, snap) AS first_name, arg_max_null(last_name, snap) AS last_name,
           arg_max_null(department, snap) AS department,
           CAST(sum(changed) AS INTEGER) AS transitions, min(snapshot_date) AS first_seen
    FROM islands GROUP BY id
), since AS (
    SELECT i.id, min(i.snapshot_date) AS since, min(i.snap) AS since_snap
    FROM islands i JOIN per p ON p.id = i.id AND i.island = p.last_island
    GROUP BY i.id
), people AS (
    SELECT email, first_name, last_name, department, per.id, status, since,
           CAST((SELECT as_of FROM history_as_of) - since AS INTEGER) AS days,
           since_snap = 0 AS since_window_start, transitions, first_seen
    FROM per JOIN since ON since.id = per.id
    WHERE last_snap = (SELECT last_snap FROM history_as_of)
)
SELECT 'people' AS tbl, * FROM people
UNION ALL
SELECT 'alerts', * FROM people WHERE status IN ('NON_COMPLIANT', 'FAIL', 'MISCONFIGURED') AND days > coalesce(CAST(getvariable('days') AS INTEGER), 5)
ORDER BY tbl DESC, days DESC NULLS LAST, email NULLS LAST, id;
