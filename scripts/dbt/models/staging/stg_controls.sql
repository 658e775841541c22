-- Controls in each workspace's latest committed snapshot.
{{ latest_of('stg_controls_history') }}
