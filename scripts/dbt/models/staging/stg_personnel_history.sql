-- Every committed snapshot's personnel (schemas/personnel.json), with the snapshot columns;
-- person_key = workspace/snapshot_id/id identifies a row.
select *, snapshot_key || '/' || id as person_key from ({{ committed('personnel') }})
