-- Every committed snapshot's personnel_identities rows (schemas/personnel_identities.json), with the snapshot columns;
-- person_key (workspace/snapshot_id/personnel_id) points at stg_personnel_history, and
-- row_key (person_key/ordinal) identifies a row.
select *, snapshot_key || '/' || personnel_id as person_key,
       snapshot_key || '/' || personnel_id || '/' || ordinal as row_key
from ({{ committed('personnel_identities') }})
