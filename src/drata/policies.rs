//! Policy acceptance: one item of v2's `GET /users/{userId}/assigned-policies`
//! (`UserPolicyVersionResponsePublicV2Dto`, with `expand[]=policy&expand[]=policyVersion`
//! inline: `PolicyCompactResponsePublicV2Dto`, `PolicyVersionCompactResponsePublicV2Dto`)
//! mapped into one `PolicyAssignment` row. Every documented field is a column; what the
//! spec does not document (and values that do not fit their column) lands in `extra`,
//! nested objects under their own key (`{"policy": {...}}`), so nothing sent is lost.
//!
//! Pure mapping: v2 fetches (`v2::V2Api::assigned_policies`), this maps. Guide and v1
//! document no such endpoint. Knows nothing of Parquet.

use super::wire::{fields_of, Fields};
use crate::record::{parse_lenient_date, PolicyAssignment};
use serde_json::Value;

/// A whole number that fits an `i32` (the spec's `number` for versions); anything else goes
/// to extra.
fn int(f: &mut Fields, key: &str) -> Option<i32> {
    let v = f.map.remove(key)?;
    let n = match &v {
        Value::Null => return None,
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n.and_then(|n| i32::try_from(n).ok()) {
        Some(n) => Some(n),
        None => {
            f.keep(key, v);
            None
        }
    }
}

/// What remains of a nested object, kept under `key` in the row's extra.
fn keep_rest(f: &mut Fields, key: &str, rest: Fields) {
    let mut left = rest.extra;
    left.extend(rest.map);
    if !left.is_empty() {
        f.keep(key, Value::Object(left));
    }
}

/// One assigned policy version of `user_id`'s user, belonging to person `personnel_id`.
pub fn assignment_from_wire(personnel_id: &str, user_id: &str, ordinal: i32, v: Value) -> PolicyAssignment {
    let mut f = fields_of(v);
    let mut row = PolicyAssignment {
        personnel_id: personnel_id.to_string(),
        user_id: Some(user_id.to_string()),
        ordinal,
        user_policy_version_id: f.string("id"),
        policy_id: f.string("policyId"),
        policy_version_id: f.string("policyVersionId"),
        accepted_at: f.timestamp("acceptedAt"),
        source_type: f.string("sourceType"),
        details: f.string("details"),
        created_at: f.timestamp("createdAt"),
        updated_at: f.timestamp("updatedAt"),
        ..PolicyAssignment::default()
    };
    if let Some(policy) = f.object("policy") {
        let mut p = Fields::new(policy);
        // The ids inline and at the top level are the same id; the top level wins, the
        // nested one fills in when the top level lacks it and is kept when they differ.
        match (p.string("id"), &row.policy_id) {
            (Some(id), None) => row.policy_id = Some(id),
            (Some(id), Some(top)) if &id != top => p.keep("id", Value::String(id)),
            _ => {}
        }
        row.policy_name = p.string("name");
        row.policy_description = p.string("description");
        row.policy_created_at = p.timestamp("createdAt");
        row.policy_updated_at = p.timestamp("updatedAt");
        row.assigned_to = p.string("assignedTo");
        row.policy_status = p.string("policyStatus");
        row.policy_renewal_date = p.parsed("renewalDate", parse_lenient_date);
        keep_rest(&mut f, "policy", p);
    }
    if let Some(version) = f.object("policyVersion") {
        let mut p = Fields::new(version);
        match (p.string("id"), &row.policy_version_id) {
            (Some(id), None) => row.policy_version_id = Some(id),
            (Some(id), Some(top)) if &id != top => p.keep("id", Value::String(id)),
            _ => {}
        }
        row.version = int(&mut p, "version");
        row.sub_version = int(&mut p, "subVersion");
        row.version_is_current = p.bool("current");
        row.version_type = p.string("type");
        row.version_created_at = p.timestamp("createdAt");
        row.version_updated_at = p.timestamp("updatedAt");
        row.version_renewal_date = p.parsed("renewalDate", parse_lenient_date);
        row.version_description = p.string("description");
        row.approved_at = p.timestamp("approvedAt");
        row.version_changes_explanation = p.string("changesExplanation");
        row.published_at = p.timestamp("publishedAt");
        row.requires_acknowledgment = p.bool("requiresAcknowledgment");
        keep_rest(&mut f, "policyVersion", p);
    }
    row.extra = f.extra();
    row
}

/// Every item of one user's list, in API order.
pub fn assignments_from_wire(personnel_id: &str, user_id: &str, items: Vec<Value>) -> Vec<PolicyAssignment> {
    items.into_iter().enumerate().map(|(i, v)| assignment_from_wire(personnel_id, user_id, i as i32, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use serde_json::{json, Map};

    fn extra_of(row: &PolicyAssignment) -> Map<String, Value> {
        row.extra.as_deref().map(|e| serde_json::from_str(e).unwrap()).unwrap_or_default()
    }

    fn documented() -> Value {
        json!({
            "id": 10_000_113, "acceptedAt": "2025-02-03T09:15:00.000Z", "createdAt": "2025-01-13T00:00:00.000Z",
            "updatedAt": "2025-02-03T09:15:00.000Z", "sourceType": "MY_DRATA", "details": null,
            "policyId": 1, "policyVersionId": 13,
            "policy": {"id": 1, "name": "Information Security Policy", "description": "How we protect data",
                       "createdAt": "2022-01-03T00:00:00.000Z", "updatedAt": "2025-01-13T00:00:00.000Z",
                       "assignedTo": "ALL", "policyStatus": "ACTIVE", "renewalDate": "2026-01-13T00:00:00.000Z"},
            "policyVersion": {"id": 13, "version": 3, "current": true, "type": "BUILDER",
                              "createdAt": "2025-01-06T00:00:00.000Z", "updatedAt": "2025-01-13T00:00:00.000Z",
                              "renewalDate": "2026-01-13T00:00:00.000Z", "subVersion": 1, "description": null,
                              "approvedAt": "2025-01-10T00:00:00.000Z", "changesExplanation": "Yearly review",
                              "publishedAt": "2025-01-13T00:00:00.000Z", "requiresAcknowledgment": true}
        })
    }

    #[test]
    fn every_documented_field_is_a_column() {
        let t = |s: &str| Some(chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc());
        let r = assignment_from_wire("42", "100042", 2, documented());
        let want = PolicyAssignment {
            personnel_id: "42".into(),
            user_id: Some("100042".into()),
            ordinal: 2,
            user_policy_version_id: Some("10000113".into()),
            policy_id: Some("1".into()),
            policy_name: Some("Information Security Policy".into()),
            policy_description: Some("How we protect data".into()),
            policy_status: Some("ACTIVE".into()),
            assigned_to: Some("ALL".into()),
            policy_renewal_date: NaiveDate::from_ymd_opt(2026, 1, 13),
            policy_created_at: t("2022-01-03T00:00:00Z"),
            policy_updated_at: t("2025-01-13T00:00:00Z"),
            policy_version_id: Some("13".into()),
            version: Some(3),
            sub_version: Some(1),
            version_is_current: Some(true),
            version_type: Some("BUILDER".into()),
            version_description: None,
            version_changes_explanation: Some("Yearly review".into()),
            requires_acknowledgment: Some(true),
            version_renewal_date: NaiveDate::from_ymd_opt(2026, 1, 13),
            published_at: t("2025-01-13T00:00:00Z"),
            approved_at: t("2025-01-10T00:00:00Z"),
            version_created_at: t("2025-01-06T00:00:00Z"),
            version_updated_at: t("2025-01-13T00:00:00Z"),
            accepted_at: Some(Utc.with_ymd_and_hms(2025, 2, 3, 9, 15, 0).unwrap()),
            source_type: Some("MY_DRATA".into()),
            details: None,
            created_at: t("2025-01-13T00:00:00Z"),
            updated_at: t("2025-02-03T09:15:00Z"),
            extra: None,
            enriched_at: None,
        };
        assert_eq!(r, want, "nothing documented is left in extra");
    }

    #[test]
    fn undocumented_and_odd_values_are_kept_in_extra() {
        let mut v = documented();
        v["acceptedAt"] = json!(null);
        v["sourceType"] = json!("SOME_NEW_SOURCE");
        v["reminderCount"] = json!(2);
        v["policy"]["ownerId"] = json!(7);
        v["policy"]["renewalDate"] = json!("soon");
        v["policyVersion"]["version"] = json!(2.5);
        v["policyVersion"]["subVersion"] = json!("1");
        v["policyVersion"]["current"] = json!("yes");
        v["policyVersion"]["id"] = json!(99);
        let r = assignment_from_wire("42", "100042", 0, v);
        assert_eq!(r.accepted_at, None, "not acknowledged yet");
        assert_eq!(r.source_type.as_deref(), Some("SOME_NEW_SOURCE"), "unknown enum values kept verbatim");
        assert_eq!((r.version, r.sub_version, r.version_is_current), (None, Some(1), None));
        assert_eq!(r.policy_renewal_date, None);
        assert_eq!(r.policy_version_id.as_deref(), Some("13"), "the top-level id wins");
        let extra = extra_of(&r);
        assert_eq!(extra["reminderCount"], 2);
        assert_eq!(extra["policy"], json!({"ownerId": 7, "renewalDate": "soon"}));
        assert_eq!(extra["policyVersion"], json!({"version": 2.5, "current": "yes", "id": "99"}));
    }

    #[test]
    fn without_expansions_the_ids_still_arrive_and_a_bare_value_is_kept() {
        let v = json!({"id": 5, "acceptedAt": "2024-05-01", "policyId": 2, "policyVersionId": 21,
                       "sourceType": "CSV", "details": "imported", "createdAt": null, "updatedAt": null});
        let rows = assignments_from_wire("1", "100001", vec![v, json!("odd")]);
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!((r.policy_id.as_deref(), r.policy_version_id.as_deref()), (Some("2"), Some("21")));
        assert_eq!(r.accepted_at, Some(Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()));
        assert_eq!((r.policy_name.as_deref(), r.version), (None, None));
        assert_eq!(r.details.as_deref(), Some("imported"));
        assert_eq!(rows[1].ordinal, 1);
        assert_eq!(extra_of(&rows[1])["value"], "odd");
        // Ids only inline: the nested ones fill in.
        let v = json!({"id": 6, "policy": {"id": 3, "name": "Code of Conduct"}, "policyVersion": {"id": 31}});
        let r = assignment_from_wire("1", "100001", 0, v);
        assert_eq!((r.policy_id.as_deref(), r.policy_version_id.as_deref()), (Some("3"), Some("31")));
        assert_eq!(r.extra, None);
    }
}
