-- Devices in each workspace's latest committed snapshot.
{{ latest_of('stg_personnel_devices_history') }}
