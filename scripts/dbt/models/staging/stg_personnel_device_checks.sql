-- Device compliance checks in each workspace's latest committed snapshot.
{{ latest_of('stg_personnel_device_checks_history') }}
