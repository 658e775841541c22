//! Drata's real public API v1 (`/public/...`, `reference/drata-real-api.md`): its requests
//! and paging, and its personnel and control records mapped into canonical records.
//!
//! Differences from the guide this module absorbs: integer ids (kept as their decimal
//! text), name and email in a nested `user`, `limit` capped at 50, compliance in
//! `complianceChecks[]` (which also become the person's training rows), background checks
//! embedded in `user.backgroundChecks`, identities in `user.identities`, devices (with
//! their compliance checks) embedded in `devices[]`, training evidence in the *user's*
//! documents, and control owners behind `/controls/{id}/owners`. The record shapes v1 shares with v2
//! (checks, identities, training rows) are mapped by `real`; offset lists are walked by
//! `walk`. Liberal per record, strict per envelope (`wire`); knows neither the guide nor
//! v2, and nothing of Parquet.

use super::client::{DrataClient, Endpoint, Fetched};
use super::real::{
    background_check_from_wire, compliance_check_from_wire, control_details_from_wire, control_flags_from_wire,
    derive_from_checks, derive_from_identities, device_from_wire, external_id_from_identities, id_text,
    identities_from_wire, personnel_details_from_wire, user_details_from_wire,
};
use super::walk::{walk_offset, WalkOptions};
use super::wire::{
    as_u64, child_array, list_page_not_found, listed_record, parse_page, path_segment, shape_error, Child, Fields, Page,
};
use crate::error::EtlError;
use crate::record::{Control, Person};
use serde_json::Value;

/// Real v1 answers at most 50 per page.
pub const MAX_LIMIT: u64 = 50;

/// Map one v1 personnel record. `None` when it has no usable id.
pub fn person_from_wire(v: Value) -> Option<Person> {
    let (id, mut f) = listed_record(v)?;
    let mut p = Person { id, ..Person::default() };
    p.employment_status = f.string("employmentStatus");
    p.start_date = f.date("startDate");
    p.end_date = f.date("separationDate");
    personnel_details_from_wire(&mut f, &mut p.details);
    let d = &mut p.details;
    d.os_version = f.string("osVersion");
    d.serial_number = f.string("serialNumber");
    d.agent_enabled = f.bool("agentEnabled");
    d.manual_upload_enabled = f.bool("manualUploadEnabled");
    d.devices_count = f.i32("devicesCount");
    d.devices_failing_compliance_count = f.i32("devicesFailingComplianceCount");
    // The agent's own data; `lastcheckedAt` is spelled so by Drata.
    f.nested("data", |a| {
        d.agent_version = a.string("agentVersion");
        d.agent_os_version = a.string("osVersion");
        d.agent_serial_number = a.string("serialNumber");
        d.agent_mac_address = a.string("macAddress");
        d.agent_screen_lock_time = a.string("screenLockTime");
        d.agent_last_checked_at = a.timestamp("lastcheckedAt");
        d.agent_created_at = a.timestamp("createdAt");
        d.agent_updated_at = a.timestamp("updatedAt");
    });
    if let Some(user) = f.object("user") {
        let mut u = Fields::new(user);
        p.user_id = u.string("id");
        user_details_from_wire(&mut u, &mut p.details);
        p.details.user_created_at = u.timestamp("createdAt");
        p.details.user_updated_at = u.timestamp("updatedAt");
        p.email = u.string("email");
        p.first_name = u.string("firstName");
        p.last_name = u.string("lastName");
        p.title = u.string("jobTitle");
        p.external_id = external_id_from_identities(u.map.get("identities"));
        p.identities = identities_from_wire(&p.id, p.user_id.as_deref(), u.array("identities"));
        let checks = u.array("backgroundChecks").unwrap_or_default();
        p.listed_background_checks =
            Some(checks.into_iter().enumerate().map(|(i, v)| background_check_from_wire(&p.id, i as i32, v)).collect());
        if let Some(rest) = u.extra() {
            f.keep("user", serde_json::from_str(&rest).unwrap_or(Value::String(rest)));
        }
    } else {
        p.listed_background_checks = Some(Vec::new());
    }
    let checks = f.array("complianceChecks").unwrap_or_default();
    p.compliance_checks =
        checks.into_iter().enumerate().map(|(i, v)| compliance_check_from_wire(&p.id, i as i32, v)).collect();
    derive_from_checks(&mut p);
    derive_from_identities(&mut p);
    let devices = f.array("devices").unwrap_or_default();
    // Embedded in the person's record: theirs, whatever `personnelId` a device names.
    p.devices = devices.into_iter().map(|v| device_from_wire(&p.id, v).1).collect();
    p.extra = f.extra();
    Some(p)
}

/// A v1 control list item (its flags at the top level); owners are fetched separately.
/// `frameworkRequirements[]` (objects of undocumented shape) stays in extra.
pub fn control_from_wire(v: Value) -> Option<Control> {
    let (id, mut f) = listed_record(v)?;
    let mut c = Control { id, name: f.string("name"), ..Control::default() };
    control_details_from_wire(&mut f, &mut c.details);
    control_flags_from_wire(&mut f, &mut c.details);
    c.details.workspace_id = f.string("workspaceId");
    c.extra = f.extra();
    Some(c)
}

/// The v1 operations.
pub struct V1Api<'a> {
    pub client: &'a DrataClient,
}

impl<'a> V1Api<'a> {
    pub async fn personnel_page(&self, page: u64, limit: u64) -> Result<Page<Person>, EtlError> {
        let path = "/public/personnel";
        let q = [("page", page.to_string()), ("limit", limit.clamp(1, MAX_LIMIT).to_string())];
        match self.client.get_json(Endpoint::PersonnelList, path, &q).await? {
            Fetched::Json(v) => parse_page(path, v, person_from_wire),
            Fetched::NotFound => list_page_not_found(path, page),
        }
    }

    pub async fn controls_page(&self, page: u64, limit: u64) -> Result<Page<Control>, EtlError> {
        let path = "/public/controls";
        let q = [("page", page.to_string()), ("limit", limit.clamp(1, MAX_LIMIT).to_string())];
        match self.client.get_json(Endpoint::ControlsList, path, &q).await? {
            Fetched::Json(v) => parse_page(path, v, control_from_wire),
            Fetched::NotFound => list_page_not_found(path, page),
        }
    }

    /// Every owner's user id of one control. Paged by the shared offset walk: a missing
    /// `total` reads on until a page adds nothing, a server ignoring `page` is 65.
    pub async fn control_owner_ids(&self, control_id: &str) -> Result<Vec<String>, EtlError> {
        let path =
            format!("/public/controls/{}/owners", path_segment("control", control_id, "/public/controls/{id}/owners")?);
        let path = path.as_str();
        let fetch = |page: u64, limit: u64| async move {
            let q = [("page", page.to_string()), ("limit", limit.clamp(1, MAX_LIMIT).to_string())];
            match self.client.get_json(Endpoint::ControlsList, path, &q).await? {
                Fetched::Json(v) => parse_page(path, v, |v| id_text(&v)),
                // The control vanished meanwhile (or the list ended with a 404).
                Fetched::NotFound => Ok(Page { items: Vec::new(), invalid: 0, total: None, limit: None, page: None }),
            }
        };
        let opts = WalkOptions { page_size: MAX_LIMIT, concurrency: 1, short_page_ends: false };
        let mut ids = Vec::new();
        walk_offset(
            path,
            opts,
            fetch,
            |id: &String| id.as_str(),
            |_, id| {
                ids.push(id);
                Ok(())
            },
        )
        .await?;
        Ok(ids)
    }

    /// The user's SEC_TRAINING documents (`{documents: [...]}`, no total: page until a short
    /// page). Paged by the shared offset walk, keyed by document id (the whole document when
    /// it has none): a page that repeats page 1 (a server ignoring `page`) is 65, and a list
    /// that never ends fails rather than being cut at a cap.
    pub async fn training_documents(&self, user_id: &str) -> Result<Child<Value>, EtlError> {
        let path =
            format!("/public/users/{}/documents", path_segment("user", user_id, "/public/users/{id}/documents")?);
        let path = path.as_str();
        let gone = std::sync::atomic::AtomicBool::new(false);
        let gone = &gone;
        let fetch = |page: u64, limit: u64| async move {
            let q = [("type", "SEC_TRAINING".to_string()), ("page", page.to_string()), ("limit", limit.to_string())];
            let rows = match self.client.get_json(Endpoint::Training, path, &q).await? {
                Fetched::Json(v) => child_array(path, v, "documents")?,
                Fetched::NotFound => {
                    if page <= 1 {
                        gone.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    Vec::new()
                }
            };
            let items = rows.into_iter().map(|d| (id_text(&d).unwrap_or_else(|| d.to_string()), d)).collect();
            Ok(Page { items, invalid: 0, total: None, limit: None, page: Some(page) })
        };
        let opts = WalkOptions { page_size: MAX_LIMIT, concurrency: 1, short_page_ends: true };
        let mut out = Vec::new();
        walk_offset(
            path,
            opts,
            fetch,
            |d: &(String, Value)| d.0.as_str(),
            |_, (_, d)| {
                out.push(d);
                Ok(())
            },
        )
        .await?;
        if gone.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(Child::Gone);
        }
        Ok(Child::Rows(out))
    }
}

/// Does a `/public/personnel?page=1&limit=1` body look like v1 (rather than the guide)?
/// Numeric ids, a nested `user` or `complianceChecks` on the first record, or the v1-only
/// `dataAll` key on an empty page.
pub fn looks_like_v1(path: &str, body: &Value) -> Result<bool, EtlError> {
    let Some(obj) = body.as_object() else { return Err(shape_error(path, "expected an object with a data array")) };
    let Some(data) = obj.get("data").and_then(Value::as_array) else {
        return Err(shape_error(path, "no data array"));
    };
    Ok(match data.first() {
        // A numeric id alone is not enough: guide servers may number people too. v1 keeps
        // email and names in a nested `user`, so a flat `email` means the guide dialect.
        Some(first) => {
            first.get("user").is_some_and(Value::is_object)
                || first.get("complianceChecks").is_some()
                || (first.get("id").is_some_and(Value::is_number) && first.get("email").is_none())
        }
        None => obj.contains_key("dataAll") && as_u64(obj.get("total")).is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drata::real::trainings_from_checks;
    use serde_json::json;

    #[test]
    fn v1_person_maps_nested_user_and_checks() {
        let p = person_from_wire(json!({
            "id": 42, "employmentStatus": "CURRENT_CONTRACTOR", "startDate": "2023-02-01", "separationDate": null,
            "user": {"id": 7, "email": "ana@example.com", "firstName": "Ana", "lastName": null, "jobTitle": "Eng",
                     "roles": ["EMPLOYEE"], "backgroundChecks": [{"id": 1, "status": "OK", "manualCheckDate": "2024-01-02", "type": "CHECKR"}],
                     "identities": [{"identityId": "g-7", "disconnectedAt": "2024-01-01T00:00:00.000Z"},
                                    {"identityId": "00u7okta", "disconnectedAt": null, "connection": {"deletedAt": null}}]},
            "complianceChecks": [
                {"id": 900, "type": "FULL_COMPLIANCE", "status": "FAIL", "checkFrequency": "DAILY", "completionDate": null},
                {"id": 901, "type": "SECURITY_TRAINING", "status": "PASS", "completionDate": "2024-03-01T00:00:00.000Z",
                 "expiresAt": "2025-03-01T00:00:00.000Z", "lastCheckedAt": "garbage", "newField": 1}
            ],
            "devicesCount": 0
        }))
        .unwrap();
        assert_eq!(p.id, "42");
        assert_eq!(p.user_id.as_deref(), Some("7"));
        assert_eq!(p.email.as_deref(), Some("ana@example.com"));
        assert_eq!(p.last_name, None);
        assert_eq!(p.title.as_deref(), Some("Eng"));
        assert_eq!(p.employment_status.as_deref(), Some("CURRENT_CONTRACTOR"));
        assert_eq!(p.is_active, Some(true));
        assert_eq!(p.compliance_status.as_deref(), Some("FAIL"));
        assert_eq!(p.training_status.as_deref(), Some(r#"{"SECURITY_TRAINING":"PASS"}"#));
        assert_eq!(p.start_date.unwrap().to_string(), "2023-02-01");
        let c = &p.compliance_checks[1];
        assert_eq!(c.check_id.as_deref(), Some("901"));
        assert_eq!(c.completion_date.unwrap().to_rfc3339(), "2024-03-01T00:00:00+00:00");
        assert_eq!(c.last_checked_at, None);
        let extra: Value = serde_json::from_str(c.extra.as_deref().unwrap()).unwrap();
        assert_eq!(extra, json!({"lastCheckedAt": "garbage", "newField": 1}));
        let bg = p.listed_background_checks.as_ref().unwrap();
        assert_eq!(bg[0].status.as_deref(), Some("OK"));
        assert_eq!(bg[0].personnel_id, "42");
        assert_eq!(bg[0].completed_at.unwrap().to_string(), "2024-01-02");
        assert_eq!(p.external_id.as_deref(), Some("00u7okta"), "the first linked identity");
        // Everything this record sent is documented: nothing is left for extra.
        let extra: Value = p.extra.as_deref().map_or(json!({}), |e| serde_json::from_str(e).unwrap());
        assert_eq!(extra, json!({}), "{extra}");
        assert_eq!(p.details.roles.as_deref(), Some(&["EMPLOYEE".to_string()][..]));
        assert_eq!(extra["user"].get("identities"), None, "identities are mapped, not kept in extra");
        assert_eq!(p.identities.len(), 2);
        assert_eq!(p.identities[1].identity_id.as_deref(), Some("00u7okta"));
        assert_eq!((p.identities[1].personnel_id.as_str(), p.identities[1].user_id.as_deref()), ("42", Some("7")));
        assert_eq!(p.employment_type.as_deref(), Some("CONTRACTOR"));
        assert_eq!(extra.get("devicesCount"), None);
        assert_eq!(p.details.devices_count, Some(0));
        let t = trainings_from_checks(&p, vec![json!({"id": 3, "name": "cert.pdf"})]);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].name.as_deref(), Some("SECURITY_TRAINING"));
        assert_eq!(t[0].completed_at.unwrap().to_string(), "2024-03-01");
        assert_eq!((t[0].check_id.as_deref(), t[0].check_frequency.as_deref()), (Some("901"), None));
        assert_eq!(t[0].expires_at.unwrap().to_rfc3339(), "2025-03-01T00:00:00+00:00");
        assert_eq!(t[0].documents.as_ref().unwrap()[0].name.as_deref(), Some("cert.pdf"));
    }

    #[test]
    fn v1_documented_fields_are_typed_columns() {
        let ts = |s: &str| Some(crate::record::parse_lenient_timestamp(s).unwrap());
        let p = person_from_wire(json!({
            "id": 42, "employmentStatus": "OUT_OF_SCOPE", "startDate": "2023-02-01T09:30:00.000Z",
            "statusUpdatedAt": "2024-06-01T12:00:00.000Z", "notHumanReason": "Shared mailbox",
            "reasonProvider": {"id": 9, "email": "admin@example.com"},
            "osVersion": "macOS 14.5", "serialNumber": null, "agentEnabled": true, "manualUploadEnabled": "false",
            "devicesCount": 2, "devicesFailingComplianceCount": "1",
            "data": {"agentVersion": "3.4.1", "osVersion": "14.5", "serialNumber": "C02X", "macAddress": "aa:bb",
                     "screenLockTime": 300, "lastcheckedAt": "yesterday", "createdAt": "2024-01-01T00:00:00Z",
                     "updatedAt": null, "battery": 80},
            "user": {"id": 7, "email": "a@example.com", "roles": ["ADMIN", "EMPLOYEE"], "avatarUrl": null,
                     "drataTermsAgreedAt": "2024-02-02T10:00:00.000Z", "entryId": "9f1c", "createdAt": "2023-01-01T00:00:00.000Z",
                     "updatedAt": "not a time"},
            "createdAt": "2023-01-05T08:00:00.000Z"
        }))
        .unwrap();
        let d = &p.details;
        // A date-time where a date is documented keeps its calendar date.
        assert_eq!(p.start_date.unwrap().to_string(), "2023-02-01");
        assert_eq!(d.status_updated_at, ts("2024-06-01T12:00:00Z"));
        assert_eq!(d.not_human_reason.as_deref(), Some("Shared mailbox"));
        assert_eq!(d.reason_provider_user_id.as_deref(), Some("9"));
        assert_eq!((d.os_version.as_deref(), d.serial_number.as_deref()), (Some("macOS 14.5"), None));
        assert_eq!((d.agent_enabled, d.manual_upload_enabled), (Some(true), Some(false)));
        assert_eq!((d.devices_count, d.devices_failing_compliance_count), (Some(2), Some(1)));
        assert_eq!((d.agent_version.as_deref(), d.agent_screen_lock_time.as_deref()), (Some("3.4.1"), Some("300")));
        assert_eq!((d.agent_os_version.as_deref(), d.agent_serial_number.as_deref()), (Some("14.5"), Some("C02X")));
        assert_eq!((d.agent_mac_address.as_deref(), d.agent_last_checked_at), (Some("aa:bb"), None));
        assert_eq!((d.agent_created_at, d.agent_updated_at), (ts("2024-01-01T00:00:00Z"), None));
        assert_eq!(d.roles, Some(vec!["ADMIN".to_string(), "EMPLOYEE".to_string()]));
        assert_eq!((d.avatar_url.as_deref(), d.user_entry_id.as_deref()), (None, Some("9f1c")));
        assert_eq!(d.drata_terms_agreed_at, ts("2024-02-02T10:00:00Z"));
        assert_eq!((d.user_created_at, d.user_updated_at), (ts("2023-01-01T00:00:00Z"), None));
        assert_eq!((d.created_at, d.updated_at), (ts("2023-01-05T08:00:00Z"), None));
        // What does not fit stays in extra, under its own key: nothing is lost.
        let extra: Value = serde_json::from_str(p.extra.as_deref().unwrap()).unwrap();
        assert_eq!(extra["data"], json!({"lastcheckedAt": "yesterday", "battery": 80}));
        assert_eq!(extra["user"], json!({"updatedAt": "not a time"}));
        assert_eq!(extra["reasonProvider"], json!({"email": "admin@example.com"}));
        assert_eq!(extra.get("osVersion"), None);
        // Missing or junk-typed values: nulls, and the junk in extra.
        let p = person_from_wire(
            json!({"id": 1, "devicesCount": 1e12, "agentEnabled": 3, "user": {"id": 2, "roles": [1, {"x": 1}]}}),
        )
        .unwrap();
        assert_eq!((p.details.devices_count, p.details.agent_enabled, p.details.roles.as_ref()), (None, None, None));
        let extra: Value = serde_json::from_str(p.extra.as_deref().unwrap()).unwrap();
        assert_eq!((&extra["devicesCount"], &extra["agentEnabled"]), (&json!(1e12), &json!(3)));
        assert_eq!(extra["user"]["roles"], json!([1, {"x": 1}]));
        assert!(person_from_wire(json!({"id": 3})).unwrap().details.is_empty());
    }

    #[test]
    fn v1_controls_keep_every_documented_field() {
        let c = control_from_wire(json!({
            "id": 5, "name": "Access", "code": "DCF-5", "description": "d", "slug": "dcf-5", "workspaceId": 1,
            "archivedAt": "2025-06-30T00:00:00.000Z", "frameworkTags": ["SOC_2", "ISO27001"], "hasEvidence": true,
            "hasOwner": false, "isMonitored": null, "isReady": true, "hasTicket": false,
            "frameworkRequirements": [{"id": 1}], "topics": ["SECURITY"]
        }))
        .unwrap();
        let d = &c.details;
        assert_eq!(
            (d.code.as_deref(), d.slug.as_deref(), d.description.as_deref()),
            (Some("DCF-5"), Some("dcf-5"), Some("d"))
        );
        assert_eq!(d.workspace_id.as_deref(), Some("1"));
        assert_eq!(d.archived_at.unwrap().to_rfc3339(), "2025-06-30T00:00:00+00:00");
        assert_eq!(d.framework_tags, Some(vec!["SOC_2".into(), "ISO27001".into()]));
        assert_eq!(d.topics, Some(vec!["SECURITY".into()]));
        assert_eq!(
            (d.has_evidence, d.has_owner, d.is_monitored, d.is_ready, d.has_ticket),
            (Some(true), Some(false), None, Some(true), Some(false))
        );
        assert_eq!(d.has_policy, None, "v1 list items have no hasPolicy");
        assert_eq!(c.extra.as_deref(), Some(r#"{"frameworkRequirements":[{"id":1}]}"#));
    }

    #[test]
    fn external_id_is_the_first_linked_identity() {
        let ext = |v: Value| external_id_from_identities(Some(&v));
        let linked = |id: &str| json!({"identityId": id, "disconnectedAt": null, "connection": {"deletedAt": null}});
        let unlinked = |id: &str| json!({"identityId": id, "disconnectedAt": "2024-05-01T00:00:00.000Z"});
        let deleted = |id: &str| json!({"identityId": id, "connection": {"deletedAt": "2024-05-01T00:00:00.000Z"}});
        assert_eq!(ext(json!([linked("a"), linked("b")])).as_deref(), Some("a"));
        assert_eq!(ext(json!([unlinked("old"), linked("b")])).as_deref(), Some("b"));
        assert_eq!(ext(json!([deleted("old"), linked("b")])).as_deref(), Some("b"));
        // Nobody linked (a leaver): the first identity that has an id.
        assert_eq!(ext(json!([{"identityId": ""}, unlinked("x"), deleted("y")])).as_deref(), Some("x"));
        // Absent key counts as linked; numbers are kept as text; blanks and junk do not count.
        assert_eq!(ext(json!([{"identityId": "  "}, {"identityId": 42}])).as_deref(), Some("42"));
        assert_eq!(ext(json!([])), None);
        assert_eq!(ext(json!([{"identityId": null}, {"username": "u"}, "junk"])), None);
        assert_eq!(ext(json!({"identityId": "not-an-array"})), None);
        assert_eq!(external_id_from_identities(None), None);
        // v1 without identities: null, as before.
        let p = person_from_wire(json!({"id": 1, "user": {"id": 2, "identities": []}})).unwrap();
        assert_eq!(p.external_id, None);
    }

    #[test]
    fn v1_is_liberal_per_record_strict_per_envelope() {
        let p = person_from_wire(
            json!({"id": 5, "user": null, "complianceChecks": null, "employmentStatus": "NEW_STATUS"}),
        )
        .unwrap();
        assert_eq!(p.is_active, Some(false));
        assert_eq!(p.employment_status.as_deref(), Some("NEW_STATUS"));
        assert_eq!(p.listed_background_checks, Some(vec![]));
        assert!(person_from_wire(json!({"user": {"id": 1}})).is_none());
        let page = parse_page(
            "/p",
            json!({"data": [{"id": 1}, {"x": 1}], "page": 1, "limit": 50, "total": 2, "dataAll": {}}),
            person_from_wire,
        )
        .unwrap();
        assert_eq!((page.items.len(), page.invalid, page.limit), (1, 1, Some(50)));
        assert!(parse_page("/p", json!({"items": []}), person_from_wire).is_err());
        assert!(looks_like_v1("/p", &json!({"data": [{"id": 1}]})).unwrap());
        assert!(!looks_like_v1("/p", &json!({"data": [{"id": "a-b"}]})).unwrap());
        assert!(looks_like_v1("/p", &json!({"data": [], "total": 0, "dataAll": {}})).unwrap());
        assert!(!looks_like_v1("/p", &json!({"data": [], "total": 0})).unwrap());
        assert!(looks_like_v1("/p", &json!([])).is_err());
    }
}
