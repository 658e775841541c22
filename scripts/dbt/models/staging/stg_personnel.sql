-- Personnel in each workspace's latest committed snapshot.
{{ latest_of('stg_personnel_history') }}
