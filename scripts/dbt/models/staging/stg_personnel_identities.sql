-- personnel_identities in each workspace's latest committed snapshot.
{{ latest_of('stg_personnel_identities_history') }}
