//! Which Drata API-key permission each endpoint the pipeline calls needs, so a 403 can
//! name exactly what to grant instead of a generic "the key lacks a permission".
//!
//! The names are the `x-drata-permissions` of each GET operation in Drata's v2 OpenAPI
//! spec (`reference/drata-openapi-v2.json`, read once for this table; the spec is not
//! shipped). v1 documents no permissions of its own (`reference/drata-real-api.md`: "each
//! endpoint needs a named permission"), so a v1 path carries the permission of the v2
//! operation that reads the same resource; `/public/personnel` and `/public/controls` are
//! also the integration guide's paths, whose keys carry the scopes `personnel:read` /
//! `controls:read` instead (`reference/drata-guide-api.md`), so both are named. Knows
//! paths, not requests or responses.

/// `(route, permission to grant)`; `*` matches one path segment.
const TABLE: &[(&str, &str)] = &[
    // v2: x-drata-permissions of the GET operation.
    ("/public/v2/personnel", "`personnel-get`"),
    ("/public/v2/users", "`users-get`"),
    ("/public/v2/users/*/documents", "`users-get-documents`"),
    ("/public/v2/users/*/assigned-policies", "`user-policies-get-user-policies`"),
    ("/public/v2/workspaces", "`workspaces-get`"),
    ("/public/v2/workspaces/*/controls", "`controls-get`"),
    ("/public/v2/workspaces/*/controls/*/owners", "`controls-get-control`"),
    ("/public/v2/devices", "`devices-get`"),
    // v1 (the v2 permission of the same resource) and the guide (its scope).
    ("/public/personnel", "`personnel-get` (on the integration guide's API: scope personnel:read)"),
    ("/public/personnel/*/training", "scope personnel:read"),
    ("/public/personnel/*/background-checks", "scope personnel:read"),
    ("/public/users/*/documents", "`users-get-documents`"),
    ("/public/controls", "`controls-get` (on the integration guide's API: scope controls:read)"),
    ("/public/controls/*/owners", "`controls-get-control`"),
];

fn matches(route: &str, path: &str) -> bool {
    let (mut r, mut p) = (route.split('/'), path.split('/'));
    loop {
        match (r.next(), p.next()) {
            (None, None) => return true,
            (Some("*"), Some(s)) if !s.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// What to grant for a 403 on `path` (query string ignored), when the endpoint is known.
pub fn needed_for(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path).trim_end_matches('/');
    TABLE.iter().find(|(route, _)| matches(route, path)).map(|(_, p)| *p)
}

/// The sentence a 403 message carries: which permission to give the key.
pub fn hint(path: &str) -> String {
    match needed_for(path) {
        Some(p) => format!("; this endpoint needs the permission {p}: grant it to the key"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_endpoint_names_its_permission() {
        assert_eq!(needed_for("/public/v2/personnel"), Some("`personnel-get`"));
        assert_eq!(needed_for("/public/v2/users/42/documents?type=SEC_TRAINING"), Some("`users-get-documents`"));
        assert_eq!(needed_for("/public/v2/workspaces/1/controls/9/owners"), Some("`controls-get-control`"));
        assert_eq!(needed_for("/public/v2/workspaces/1/controls"), Some("`controls-get`"));
        assert_eq!(
            needed_for("/public/v2/users/100001/assigned-policies?size=50&expand[]=policy"),
            Some("`user-policies-get-user-policies`")
        );
        assert!(needed_for("/public/personnel").unwrap().contains("personnel-get"));
        assert_eq!(needed_for("/public/controls/5/owners"), Some("`controls-get-control`"));
        // An empty segment is no id; unknown paths name nothing.
        assert_eq!(needed_for("/public/v2/users//documents"), None);
        assert_eq!(needed_for("/public/v2/devices?expand[]=complianceChecks"), Some("`devices-get`"));
        assert_eq!(needed_for("/public/v2/devices/5/apps"), None);
        assert!(hint("/public/v2/audits").is_empty());
    }
}
