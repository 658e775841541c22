-- personnel_policies in each workspace's latest committed snapshot.
{{ latest_of('stg_personnel_policies_history') }}
