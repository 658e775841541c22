-- personnel_compliance_checks in each workspace's latest committed snapshot.
{{ latest_of('stg_personnel_compliance_checks_history') }}
