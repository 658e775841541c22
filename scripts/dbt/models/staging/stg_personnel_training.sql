-- personnel_training in each workspace's latest committed snapshot.
{{ latest_of('stg_personnel_training_history') }}
