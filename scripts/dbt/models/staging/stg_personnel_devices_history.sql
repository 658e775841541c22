-- Every committed snapshot's devices (schemas/personnel_devices.json); person_key points at
-- stg_personnel_history, device_key (person_key/device_id) identifies a device.
select *, snapshot_key || '/' || personnel_id as person_key,
       snapshot_key || '/' || personnel_id || '/' || device_id as device_key
from ({{ committed('personnel_devices') }})
