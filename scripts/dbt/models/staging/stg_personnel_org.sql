-- The manager hierarchy in each workspace's latest committed snapshot.
{{ latest_of('stg_personnel_org_history') }}
