//! The simulated workspace's policy acceptance, as v2's
//! `GET /users/{userId}/assigned-policies` serves it (`UserPolicyVersionResponsePublicV2Dto`,
//! with `PolicyCompactResponsePublicV2Dto` / `PolicyVersionCompactResponsePublicV2Dto`
//! under `expand[]=policy` / `expand[]=policyVersion`). Deterministic from the person's
//! index and the generated person (so from the seed), like `real`. Its own serialisation;
//! nothing shared with the client's mapping.
//!
//! The catalogue (policy id, name, status, scope; versions as id = policy id × 10 +
//! version, published on a fixed date):
//!
//! | policy | status, assignedTo | versions (current last) | acknowledgment |
//! |---|---|---|---|
//! | 1 Information Security Policy | ACTIVE, ALL | 11 v1 2022-01-10, 12 v2 2023-01-09, 13 v3.1 2025-01-13 | required |
//! | 2 Acceptable Use Policy | ACTIVE, ALL | 21 v1 2022-03-01, 22 v2 2024-06-03 | required |
//! | 3 Code of Conduct | ACTIVE, ALL | 31 v1 2021-09-01 | required |
//! | 4 Data Retention Policy | ACTIVE, GROUP | 41 v1 2024-02-05 | not required |
//! | 5 Incident Response Plan | ACTIVE, GROUP | 51 v1 2023-05-15 | required |
//! | 6 Remote Work Policy | ARCHIVED, NONE | 61 v1 2021-03-01 (not current) | required |
//!
//! A version was created 7 days and approved 3 days before it was published; its renewal
//! date is 365 days after publication; a policy's renewal date is its current version's
//! (null for the archived one). Who holds what, for person index `i` (user id `u`):
//!
//! - a current person: 31, 13, 22 (everyone), 41 when `i % 3 == 0`, 51 when `i % 4 == 1`,
//!   and the superseded 12 as well when `i % 5 == 1` (accepted before v3 came out);
//! - a leaver: the versions of their time, all accepted: 61, 31, 21, 12 (old acceptances);
//! - not accepted yet (`acceptedAt` null, `sourceType` UNKNOWN): 13 when `i % 4 == 3`, 22
//!   when `i % 6 == 5`, 51 when `i % 8 == 5`, 41 when `i % 2 == 1`; everything else is
//!   accepted on its version's publication date + `i % 28` days at 09:`i % 60` UTC, through
//!   BAMBOO_HR (`i % 10 == 3`, with `details`), PUBLIC_API (`i % 10 == 7`) or MY_DRATA;
//! - the row id is `u × 100 + version id`; `createdAt` is the version's publication
//!   (midnight UTC), `updatedAt` the acceptance, if any. Rows are listed oldest
//!   `createdAt` first (what `sort=createdAt&sortDir=ASC` asks).

use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

struct Policy {
    id: u64,
    name: &'static str,
    description: &'static str,
    status: &'static str,
    assigned_to: &'static str,
}

struct Version {
    id: u64,
    policy: usize,
    version: u64,
    sub_version: u64,
    current: bool,
    kind: &'static str,
    published: (i32, u32, u32),
    requires_ack: bool,
    changes: Option<&'static str>,
}

const POLICIES: [Policy; 6] = [
    Policy {
        id: 1,
        name: "Information Security Policy",
        description: "How Acme protects its information",
        status: "ACTIVE",
        assigned_to: "ALL",
    },
    Policy {
        id: 2,
        name: "Acceptable Use Policy",
        description: "Acceptable use of company systems",
        status: "ACTIVE",
        assigned_to: "ALL",
    },
    Policy {
        id: 3,
        name: "Code of Conduct",
        description: "How we work together",
        status: "ACTIVE",
        assigned_to: "ALL",
    },
    Policy {
        id: 4,
        name: "Data Retention Policy",
        description: "How long data is kept",
        status: "ACTIVE",
        assigned_to: "GROUP",
    },
    Policy {
        id: 5,
        name: "Incident Response Plan",
        description: "What to do when things go wrong",
        status: "ACTIVE",
        assigned_to: "GROUP",
    },
    Policy {
        id: 6,
        name: "Remote Work Policy",
        description: "Working away from the office",
        status: "ARCHIVED",
        assigned_to: "NONE",
    },
];

const fn v(
    id: u64,
    policy: usize,
    version: u64,
    current: bool,
    kind: &'static str,
    published: (i32, u32, u32),
    requires_ack: bool,
) -> Version {
    Version { id, policy, version, sub_version: 0, current, kind, published, requires_ack, changes: None }
}

const VERSIONS: [Version; 9] = [
    v(11, 0, 1, false, "BUILDER", (2022, 1, 10), true),
    Version { changes: Some("Yearly review"), ..v(12, 0, 2, false, "BUILDER", (2023, 1, 9), true) },
    Version {
        sub_version: 1,
        changes: Some("Added AI tooling rules"),
        ..v(13, 0, 3, true, "BUILDER", (2025, 1, 13), true)
    },
    v(21, 1, 1, false, "UPLOADED", (2022, 3, 1), true),
    Version { changes: Some("Personal devices"), ..v(22, 1, 2, true, "UPLOADED", (2024, 6, 3), true) },
    v(31, 2, 1, true, "EXTERNAL", (2021, 9, 1), true),
    v(41, 3, 1, true, "BUILDER", (2024, 2, 5), false),
    v(51, 4, 1, true, "BUILDER", (2023, 5, 15), true),
    v(61, 5, 1, false, "UPLOADED", (2021, 3, 1), true),
];

fn version(id: u64) -> &'static Version {
    VERSIONS.iter().find(|v| v.id == id).expect("a catalogue version")
}

fn day(v: &Version) -> NaiveDate {
    let (y, m, d) = v.published;
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid catalogue date")
}

fn midnight(d: NaiveDate) -> String {
    format!("{d}T00:00:00.000Z")
}

fn version_json(v: &Version) -> Value {
    let published = day(v);
    json!({
        "id": v.id, "version": v.version, "current": v.current, "type": v.kind,
        "createdAt": midnight(published - Duration::days(7)), "updatedAt": midnight(published),
        "renewalDate": midnight(published + Duration::days(365)), "subVersion": v.sub_version,
        "description": null, "approvedAt": midnight(published - Duration::days(3)),
        "changesExplanation": v.changes, "publishedAt": midnight(published),
        "requiresAcknowledgment": v.requires_ack,
    })
}

fn policy_json(index: usize) -> Value {
    let p = &POLICIES[index];
    let versions = || VERSIONS.iter().filter(|v| v.policy == index);
    let first = versions().map(day).min().expect("every policy has a version");
    let current = versions().find(|v| v.current);
    let latest = versions().map(day).max().expect("every policy has a version");
    json!({
        "id": p.id, "name": p.name, "description": p.description,
        "createdAt": midnight(first - Duration::days(7)), "updatedAt": midnight(latest),
        "assignedTo": p.assigned_to, "policyStatus": p.status,
        "renewalDate": current.map(|v| midnight(day(v) + Duration::days(365))),
    })
}

/// The version ids person `index` holds, oldest publication first (see the module docs).
fn held(index: u64, active: bool) -> Vec<u64> {
    let mut ids = if active {
        let mut ids = vec![31, 13, 22];
        if index % 3 == 0 {
            ids.push(41);
        }
        if index % 4 == 1 {
            ids.push(51);
        }
        if index % 5 == 1 {
            ids.push(12);
        }
        ids
    } else {
        vec![61, 31, 21, 12]
    };
    ids.sort_by_key(|id| (day(version(*id)), *id));
    ids
}

fn accepted(index: u64, version_id: u64) -> bool {
    !match version_id {
        13 => index % 4 == 3,
        22 => index % 6 == 5,
        51 => index % 8 == 5,
        41 => index % 2 == 1,
        _ => false,
    }
}

/// Every assigned policy version of person `index` (user `user_id`), with the policy and
/// version objects inline when `policy` / `version` are asked for.
pub(crate) fn assigned(index: u64, user_id: u64, active: bool, policy: bool, version_too: bool) -> Vec<Value> {
    held(index, active)
        .into_iter()
        .map(|vid| {
            let v = version(vid);
            let created = midnight(day(v));
            let accepted_at = accepted(index, vid).then(|| {
                let d = day(v) + Duration::days((index % 28) as i64);
                format!("{d}T09:{:02}:00.000Z", index % 60)
            });
            let source = match (accepted_at.is_some(), index % 10) {
                (false, _) => "UNKNOWN",
                (true, 3) => "BAMBOO_HR",
                (true, 7) => "PUBLIC_API",
                (true, _) => "MY_DRATA",
            };
            let mut row = json!({
                "id": user_id * 100 + vid, "acceptedAt": accepted_at, "createdAt": created,
                "updatedAt": accepted_at.clone().unwrap_or_else(|| created.clone()), "sourceType": source,
                "details": (source == "BAMBOO_HR").then_some("Acknowledged in BambooHR"),
                "policyId": POLICIES[v.policy].id, "policyVersionId": vid,
            });
            if policy {
                row["policy"] = policy_json(v.policy);
            }
            if version_too {
                row["policyVersion"] = version_json(v);
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_hold() {
        // Person 3: current, group 41 (3 % 3), not 51, no history; 13 unaccepted (3 % 4),
        // accepted through BambooHR (3 % 10).
        let rows = assigned(3, 100_004, true, true, true);
        let ids: Vec<u64> = rows.iter().map(|r| r["policyVersionId"].as_u64().unwrap()).collect();
        assert_eq!(ids, [31, 41, 22, 13], "oldest publication first");
        assert_eq!(rows[0]["id"], 10_000_431u64);
        assert_eq!(rows[0]["acceptedAt"], "2021-09-04T09:03:00.000Z");
        assert_eq!(rows[0]["sourceType"], "BAMBOO_HR");
        assert_eq!(rows[0]["details"], "Acknowledged in BambooHR");
        assert_eq!(rows[1]["acceptedAt"], Value::Null, "41 when i % 2 == 1");
        assert_eq!(rows[3]["acceptedAt"], Value::Null);
        assert_eq!(rows[3]["sourceType"], "UNKNOWN");
        assert_eq!(rows[3]["policyVersion"]["subVersion"], 1);
        assert_eq!(rows[3]["policy"]["renewalDate"], "2026-01-13T00:00:00.000Z");
        // A leaver: four old acceptances, the archived policy without a renewal date.
        let rows = assigned(3, 100_004, false, true, false);
        let ids: Vec<u64> = rows.iter().map(|r| r["policyVersionId"].as_u64().unwrap()).collect();
        assert_eq!(ids, [61, 31, 21, 12]);
        assert!(rows.iter().all(|r| r["acceptedAt"].is_string() && r.get("policyVersion").is_none()));
        assert_eq!(rows[0]["policy"]["renewalDate"], Value::Null);
        assert_eq!(rows[0]["policy"]["policyStatus"], "ARCHIVED");
        // History and group 51 for i = 1 (1 % 5, 1 % 4).
        let ids: Vec<u64> =
            assigned(1, 100_002, true, false, false).iter().map(|r| r["policyVersionId"].as_u64().unwrap()).collect();
        assert_eq!(ids, [31, 12, 51, 22, 13]);
    }
}
