-- Every committed snapshot's device compliance checks (schemas/personnel_device_checks.json);
-- device_key points at stg_personnel_devices_history, row_key (device_key/ordinal)
-- identifies a row.
select *, snapshot_key || '/' || personnel_id || '/' || device_id as device_key,
       snapshot_key || '/' || personnel_id || '/' || device_id || '/' || ordinal as row_key
from ({{ committed('personnel_device_checks') }})
