-- personnel_background_checks in each workspace's latest committed snapshot.
{{ latest_of('stg_personnel_background_checks_history') }}
