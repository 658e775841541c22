-- Every committed snapshot's controls (schemas/controls.json); control_key =
-- workspace/snapshot_id/id, owner_key points at the owner's stg_personnel_history row.
select *, snapshot_key || '/' || id as control_key,
       case when owner_id is not null then snapshot_key || '/' || owner_id end as owner_key
from ({{ committed('controls') }})
