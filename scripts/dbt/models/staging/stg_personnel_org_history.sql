-- Every committed snapshot's manager hierarchy (schemas/personnel_org.json); person_key as
-- in stg_personnel_history.
select *, snapshot_key || '/' || id as person_key from ({{ committed('personnel_org') }})
