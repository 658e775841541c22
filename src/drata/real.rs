//! The record mapping Drata's real API shares between its versions (v1 and v2 answer the
//! same record shapes under different envelopes): compliance checks, background checks,
//! the fields derived from the checks, a user's `identities[]` (and the external id,
//! employment type and title derived from them), devices with their compliance checks, and
//! a person's training rows (their training checks plus their SEC_TRAINING documents).
//!
//! Knows no request, path or paging style: `v1` and `v2` fetch, this maps. Knows nothing
//! of Parquet.

use super::wire::{fields_of, Child, Fields};
use crate::error::EtlError;
use crate::record::{
    active_from_employment_status, BackgroundCheck, ComplianceCheck, ControlDetails, Device, DeviceCheck, Identity,
    Person, PersonDetails, Training, TrainingDocument, TRAINING_CHECK_TYPES,
};
use serde_json::{Map, Value};
use std::future::Future;

/// One `complianceChecks[]` entry (v1 and v2 share the shape; v2 adds `exclusion`, whose
/// documented fields become columns and whose undocumented ones stay in extra).
pub fn compliance_check_from_wire(personnel_id: &str, ordinal: i32, v: Value) -> ComplianceCheck {
    let mut f = fields_of(v);
    let mut c = ComplianceCheck {
        personnel_id: personnel_id.to_string(),
        ordinal,
        check_id: f.string("id"),
        check_type: f.string("type"),
        status: f.string("status"),
        check_frequency: f.string("checkFrequency"),
        completion_date: f.timestamp("completionDate"),
        expires_at: f.timestamp("expiresAt"),
        last_checked_at: f.timestamp("lastCheckedAt"),
        created_at: f.timestamp("createdAt"),
        updated_at: f.timestamp("updatedAt"),
        ..ComplianceCheck::default()
    };
    f.nested("exclusion", |e| {
        c.exclusion_id = e.string("id");
        c.exclusion_reason = e.string("reason");
        c.exclusion_created_by_id = e.string("createdById");
        c.exclusion_created_by_email = e.string("createdByEmail");
        c.exclusion_created_at = e.timestamp("createdAt");
        c.exclusion_start_date = e.timestamp("startDate");
        c.exclusion_end_date = e.timestamp("endDate");
    });
    c.extra = f.extra();
    c
}

/// One background check (`user.backgroundChecks[]` in v1, `/v2/users` in v2): every field
/// of `BackgroundCheckResponsePublicV2Dto` a column (`completed_at` is `manualCheckDate`,
/// `reportData` verbatim text); v1's nested `user` card lends its id when `userId` is
/// missing and otherwise stays in extra.
pub fn background_check_from_wire(personnel_id: &str, ordinal: i32, v: Value) -> BackgroundCheck {
    let mut f = fields_of(v);
    let mut b = BackgroundCheck {
        personnel_id: personnel_id.to_string(),
        ordinal,
        status: f.string("status"),
        completed_at: f.date("manualCheckDate"),
        id: f.string("id"),
        user_id: f.string("userId"),
        check_type: f.string("type"),
        source: f.string("source"),
        case_id: f.string("caseId"),
        case_invitation_id: f.string("caseInvitationId"),
        url: f.string("url"),
        manually_check_url: f.string("manuallyCheckUrl"),
        report_data: f.text_or_json("reportData"),
        out_of_scope_reason: f.string("outOfScopeReason"),
        out_of_scope_at: f.timestamp("outOfScopeAt"),
        invitation_email: f.string("invitationEmail"),
        linked_at: f.timestamp("linkedAt"),
        created_at: f.timestamp("createdAt"),
        updated_at: f.timestamp("updatedAt"),
        ..BackgroundCheck::default()
    };
    if b.user_id.is_none() {
        if let Some(Value::Object(u)) = f.map.get("user") {
            b.user_id = id_text(&Value::Object(u.clone()));
        }
    }
    b.extra = f.extra();
    b
}

/// The documented user fields v1's nested `user` and v2's `/v2/users` items share, into
/// `details` (`createdAt`/`updatedAt` are the caller's: v2 takes them from `expand[]=user`).
pub(crate) fn user_details_from_wire(u: &mut Fields, d: &mut PersonDetails) {
    d.roles = u.str_list("roles");
    d.avatar_url = u.string("avatarUrl");
    d.drata_terms_agreed_at = u.timestamp("drataTermsAgreedAt");
    d.user_entry_id = u.string("entryId");
}

/// The documented fields of a real personnel record both versions carry.
pub(crate) fn personnel_details_from_wire(f: &mut Fields, d: &mut PersonDetails) {
    d.status_updated_at = f.timestamp("statusUpdatedAt");
    d.not_human_reason = f.string("notHumanReason");
    d.created_at = f.timestamp("createdAt");
    d.updated_at = f.timestamp("updatedAt");
    if let Some(id) = f.nested("reasonProvider", |r| r.string("id")) {
        d.reason_provider_user_id = id;
    }
}

/// The documented control fields v1 and v2 share (v1 keeps the flags at the top level, v2
/// under `flags`, which the caller passes as `flags`).
pub(crate) fn control_details_from_wire(f: &mut Fields, d: &mut ControlDetails) {
    d.code = f.string("code");
    d.slug = f.string("slug");
    d.description = f.string("description");
    d.question = f.string("question");
    d.activity = f.string("activity");
    d.archived_at = f.timestamp("archivedAt");
    d.rationale = f.string("rationale");
    d.control_template_id = f.string("controlTemplateId");
    d.created_at = f.timestamp("createdAt");
    d.updated_at = f.timestamp("updatedAt");
    d.framework_tags = f.str_list("frameworkTags");
    d.topics = f.str_list("topics");
}

/// The six control flags, from whichever object holds them.
pub(crate) fn control_flags_from_wire(f: &mut Fields, d: &mut ControlDetails) {
    d.has_evidence = f.bool("hasEvidence");
    d.has_policy = f.bool("hasPolicy");
    d.has_owner = f.bool("hasOwner");
    d.is_monitored = f.bool("isMonitored");
    d.is_ready = f.bool("isReady");
    d.has_ticket = f.bool("hasTicket");
}

/// One user document (`id, name, type, fileUrl, renewalDate, createdAt, updatedAt`, v2's
/// `userId`); anything else (v2's `downloadUrl`) in its `extra`.
pub fn document_from_wire(v: Value) -> TrainingDocument {
    let mut f = fields_of(v);
    TrainingDocument {
        id: f.string("id"),
        user_id: f.string("userId"),
        name: f.string("name"),
        doc_type: f.string("type"),
        file_url: f.string("fileUrl"),
        renewal_date: f.date("renewalDate"),
        created_at: f.timestamp("createdAt"),
        updated_at: f.timestamp("updatedAt"),
        extra: f.extra(),
    }
}

/// Fill the fields the real dialects derive from the compliance checks: the overall status
/// (the FULL_COMPLIANCE check) and a training summary `{TYPE: status}`.
pub(crate) fn derive_from_checks(p: &mut Person) {
    let status_of =
        |t: &str| p.compliance_checks.iter().find(|c| c.check_type.as_deref() == Some(t)).map(|c| c.status.clone());
    p.compliance_status = status_of("FULL_COMPLIANCE").flatten();
    let mut summary = Map::new();
    for t in TRAINING_CHECK_TYPES {
        if let Some(s) = status_of(t) {
            summary.insert(t.to_string(), s.map(Value::String).unwrap_or(Value::Null));
        }
    }
    p.training_status = (!summary.is_empty()).then(|| Value::Object(summary).to_string());
    p.is_active = p.employment_status.as_deref().map(active_from_employment_status);
}

/// One `identities[]` entry (`UserIdentityResponsePublicV2Dto`, v1 and v2 alike) of the
/// user `user_id`. The connection's id, type, client id, alias, state and deletion become
/// columns; its other fields stay in extra under `connection`.
pub fn identity_from_wire(personnel_id: &str, user_id: Option<&str>, ordinal: i32, v: Value) -> Identity {
    let mut f = fields_of(v);
    let mut i = Identity {
        personnel_id: personnel_id.to_string(),
        ordinal,
        id: f.string("id"),
        identity_id: f.string("identityId"),
        user_id: f.string("userId").or_else(|| user_id.map(str::to_string)),
        connection_id: f.string("connectionId"),
        username: f.string("username"),
        email: f.string("email"),
        secondary_email: f.string("secondaryEmail"),
        first_name: f.string("firstName"),
        last_name: f.string("lastName"),
        has_mfa: f.bool("hasMfa"),
        connected_at: f.timestamp("connectedAt"),
        disconnected_at: f.timestamp("disconnectedAt"),
        started_at: f.date("startedAt"),
        separated_at: f.date("separatedAt"),
        is_contractor: f.bool("isContractor"),
        job_title: f.string("jobTitle"),
        manager_id: f.string("managerId"),
        manager_name: f.string("managerName"),
        created_at: f.timestamp("createdAt"),
        updated_at: f.timestamp("updatedAt"),
        ..Identity::default()
    };
    if let Some(conn) = f.object("connection") {
        let mut c = Fields::new(conn);
        let id = c.string("id");
        i.connection_id = i.connection_id.or(id);
        i.connection_client_type = c.string("clientType");
        i.connection_client_id = c.string("clientId");
        i.connection_client_alias = c.string("clientAlias");
        i.connection_state = c.string("state");
        i.connection_deleted_at = c.timestamp("deletedAt");
        if let Some(rest) = c.extra() {
            f.keep("connection", serde_json::from_str(&rest).unwrap_or(Value::String(rest)));
        }
    }
    i.extra = f.extra();
    i
}

/// A user's `identities[]` mapped (a non-array is none).
pub fn identities_from_wire(personnel_id: &str, user_id: Option<&str>, list: Option<Vec<Value>>) -> Vec<Identity> {
    let list = list.unwrap_or_default();
    list.into_iter().enumerate().map(|(k, v)| identity_from_wire(personnel_id, user_id, k as i32, v)).collect()
}

/// The identity whose fields speak for the person when several could (job title, contractor
/// flag): the first *linked* identity (`Identity::is_linked`) where `has` holds, else the
/// first identity at all where it holds. Array order decides among equals.
pub fn deciding_identity(identities: &[Identity], has: impl Fn(&Identity) -> bool) -> Option<&Identity> {
    identities.iter().find(|i| i.is_linked() && has(i)).or_else(|| identities.iter().find(|i| has(i)))
}

/// `employment_type` for the real dialects, which have no such field: `CONTRACTOR` for the
/// contractor statuses (`CURRENT_CONTRACTOR`, `FORMER_CONTRACTOR`,
/// `SPECIAL_FORMER_CONTRACTOR`), `FULL_TIME` for the employee ones (Drata does not tell
/// full from part time, so `PART_TIME` is never produced); for any other status (or none)
/// the deciding identity's `isContractor`: true is `CONTRACTOR`, false `FULL_TIME`, null
/// unknown.
pub fn employment_type_of(status: Option<&str>, identities: &[Identity]) -> Option<String> {
    match status {
        Some("CURRENT_CONTRACTOR" | "FORMER_CONTRACTOR" | "SPECIAL_FORMER_CONTRACTOR") => {
            return Some("CONTRACTOR".into())
        }
        Some("CURRENT_EMPLOYEE" | "FORMER_EMPLOYEE" | "SPECIAL_FORMER_EMPLOYEE") => return Some("FULL_TIME".into()),
        _ => {}
    }
    let flag = deciding_identity(identities, |i| i.is_contractor.is_some())?.is_contractor?;
    Some(if flag { "CONTRACTOR" } else { "FULL_TIME" }.into())
}

/// Fill what the real dialects derive from a person's identities, where the record itself
/// lacks it: `employment_type` (`employment_type_of`) and `title` (the deciding identity's
/// `jobTitle` when the user has none). `manager_id` needs everyone's identities: see
/// `extract::managers`.
pub(crate) fn derive_from_identities(p: &mut Person) {
    if p.employment_type.is_none() {
        p.employment_type = employment_type_of(p.employment_status.as_deref(), &p.identities);
    }
    if p.title.is_none() {
        let has_title = |i: &Identity| i.job_title.as_deref().is_some_and(|t| !t.trim().is_empty());
        p.title = deciding_identity(&p.identities, has_title).and_then(|i| i.job_title.clone());
    }
}

/// One device (`DeviceResponsePublicV2Dto`; v1's embedded `devices[]` have the same shape)
/// with its `complianceChecks[]`, and the `personnelId` it names (v2 joins by it). The
/// `*Explanation` values are kept as text (objects as compact JSON text), `identifiers[]`
/// as `TYPE:identifier` texts; `asset`, `documents` and anything undocumented go to extra.
pub fn device_from_wire(personnel_id: &str, v: Value) -> (Option<String>, Device) {
    let mut f = fields_of(v);
    let named = f.string("personnelId");
    let mut d = Device {
        personnel_id: personnel_id.to_string(),
        device_id: f.string("id"),
        asset_id: f.string("assetId"),
        os_version: f.string("osVersion"),
        serial_number: f.string("serialNumber"),
        model: f.string("model"),
        mac_address: f.string("macAddress"),
        last_checked_at: f.timestamp("lastCheckedAt"),
        source_type: f.string("sourceType"),
        created_at: f.timestamp("createdAt"),
        updated_at: f.timestamp("updatedAt"),
        deleted_at: f.timestamp("deletedAt"),
        apps_count: f.i32("appsCount"),
        is_device_compliant: f.bool("isDeviceCompliant"),
        screen_lock_time: f.i32("screenLockTime"),
        screen_lock_explanation: f.text_or_json("screenLockExplanation"),
        antivirus_enabled: f.bool("antivirusEnabled"),
        antivirus_explanation: f.text_or_json("antivirusExplanation"),
        auto_update_enabled: f.bool("autoUpdateEnabled"),
        auto_update_explanation: f.text_or_json("autoUpdateExplanation"),
        password_manager_enabled: f.bool("passwordManagerEnabled"),
        password_manager_explanation: f.text_or_json("passwordManagerExplanation"),
        encryption_enabled: f.bool("encryptionEnabled"),
        encryption_explanation: f.text_or_json("encryptionExplanation"),
        firewall_enabled: f.bool("firewallEnabled"),
        firewall_explanation: f.text_or_json("firewallExplanation"),
        user_id: f.string("userId"),
        external_id: f.string("externalId"),
        ..Device::default()
    };
    d.identifiers = f.array("identifiers").map(|list| list.iter().map(identifier_text).collect());
    let checks = f.array("complianceChecks").unwrap_or_default();
    d.checks = checks.into_iter().enumerate().map(|(k, v)| device_check_from_wire(&d, k as i32, v)).collect();
    d.extra = f.extra();
    (named, d)
}

/// `TYPE:identifier` of one `DeviceIdentifierResponsePublicV2Dto` (a missing part is empty;
/// an entry that is not an object is kept as its JSON text).
fn identifier_text(v: &Value) -> String {
    let part = |k: &str| match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    if v.is_object() {
        format!("{}:{}", part("type"), part("identifier"))
    } else {
        v.to_string()
    }
}

/// One `complianceChecks[]` entry of a device (`DeviceComplianceCheckResponsePublicV2Dto`).
pub fn device_check_from_wire(device: &Device, ordinal: i32, v: Value) -> DeviceCheck {
    let mut f = fields_of(v);
    DeviceCheck {
        personnel_id: device.personnel_id.clone(),
        device_id: device.device_id.clone(),
        ordinal,
        check_id: f.string("id"),
        check_type: f.string("type"),
        status: f.string("status"),
        check_frequency: f.string("checkFrequency"),
        completion_date: f.timestamp("completionDate"),
        expires_at: f.timestamp("expiresAt"),
        last_checked_at: f.timestamp("lastCheckedAt"),
        created_at: f.timestamp("createdAt"),
        updated_at: f.timestamp("updatedAt"),
        extra: f.extra(),
    }
}

/// A device moved to another person (the join): its checks follow.
pub fn device_for(personnel_id: &str, d: &Device) -> Device {
    let mut d = Device { personnel_id: personnel_id.to_string(), ..d.clone() };
    for c in &mut d.checks {
        c.personnel_id = personnel_id.to_string();
    }
    d
}

/// `external_id` for the real dialects, from a user's `identities[]` (IdP/HRIS accounts
/// linked to the Drata user): the `identityId` of the first identity still linked
/// (`disconnectedAt` null or absent, and its `connection.deletedAt` null or absent), else of
/// the first identity with an `identityId` at all (a leaver's identity is typically
/// unlinked but is still their id upstream), else `None`. Array order decides among equals;
/// a blank `identityId` does not count.
pub fn external_id_from_identities(identities: Option<&Value>) -> Option<String> {
    let list = identities?.as_array()?;
    let id_of = |i: &Value| match i.get("identityId")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let unset = |v: Option<&Value>| v.is_none_or(Value::is_null);
    let linked =
        |i: &&Value| unset(i.get("disconnectedAt")) && unset(i.get("connection").and_then(|c| c.get("deletedAt")));
    list.iter().filter(linked).find_map(id_of).or_else(|| list.iter().find_map(id_of))
}

/// The `id` of a real-API object (a user card, a workspace, a document) as text: numbers
/// as their decimal text, a blank id as none.
pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The training rows of a real-dialect person: one per training compliance check (name =
/// the check type, status = the check's status, completed_at = its completion date, and
/// the check's id, frequency, expiry and last-checked time), with the user's SEC_TRAINING
/// documents in `documents` of the SECURITY_TRAINING row (an empty list when there are
/// none; a row of its own when there is no such check but there are documents).
pub fn trainings_from_checks(person: &Person, documents: Vec<Value>) -> Vec<Training> {
    let mut out: Vec<Training> = Vec::new();
    let mut documents = Some(documents.into_iter().map(document_from_wire).collect::<Vec<_>>());
    for c in &person.compliance_checks {
        let Some(t) = c.check_type.as_deref().filter(|t| TRAINING_CHECK_TYPES.contains(t)) else { continue };
        out.push(Training {
            personnel_id: person.id.clone(),
            ordinal: out.len() as i32,
            name: Some(t.to_string()),
            status: c.status.clone(),
            completed_at: c.completion_date.map(|d| d.date_naive()),
            check_id: c.check_id.clone(),
            check_frequency: c.check_frequency.clone(),
            expires_at: c.expires_at,
            last_checked_at: c.last_checked_at,
            documents: if t == "SECURITY_TRAINING" { documents.take() } else { None },
            ..Training::default()
        });
    }
    if let Some(d) = documents.filter(|d| !d.is_empty()) {
        out.push(Training {
            personnel_id: person.id.clone(),
            ordinal: out.len() as i32,
            name: Some("SECURITY_TRAINING".into()),
            documents: Some(d),
            ..Training::default()
        });
    }
    out
}

/// A person's training rows: their training checks plus their user's SEC_TRAINING
/// documents, listed by `documents` (the dialect's request for one user id). A person
/// without a user has no documents to ask for; a user that is gone (404) makes the person
/// gone.
pub(crate) async fn training<'p, Fut>(
    person: &'p Person,
    documents: impl FnOnce(&'p str) -> Fut,
) -> Result<Child<Training>, EtlError>
where
    Fut: Future<Output = Result<Child<Value>, EtlError>>,
{
    let docs = match person.user_id.as_deref() {
        Some(u) => match documents(u).await? {
            Child::Rows(d) => d,
            Child::Gone => return Ok(Child::Gone),
        },
        None => Vec::new(),
    };
    Ok(Child::Rows(trainings_from_checks(person, docs)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn person(user_id: Option<&str>) -> Person {
        let check = json!({"id": 901, "type": "SECURITY_TRAINING", "status": "PASS"});
        Person {
            id: "42".into(),
            user_id: user_id.map(str::to_string),
            compliance_checks: vec![compliance_check_from_wire("42", 0, check)],
            ..Person::default()
        }
    }

    #[test]
    fn identity_maps_every_documented_field() {
        let i = identity_from_wire(
            "42",
            Some("7"),
            1,
            json!({
                "id": 70, "identityId": "00u7okta", "username": "ana", "connectedAt": "2024-01-02T03:04:05.000Z",
                "disconnectedAt": null, "hasMfa": false, "userId": 7, "connectionId": 3,
                "connection": {"id": 3, "clientType": "OKTA_IDENTITY", "clientId": "acme.okta", "clientAlias": null,
                               "state": "ACTIVE", "createdAt": "2023-01-01T00:00:00.000Z", "deletedAt": null},
                "email": "ana@example.com", "secondaryEmail": "a@alt.example", "firstName": "Ana", "lastName": "Lee",
                "startedAt": "2023-02-01T00:00:00.000Z", "separatedAt": "Fri Jun 26 2026", "isContractor": true,
                "jobTitle": "Eng", "managerId": "00u1boss", "managerName": "Bo Ss",
                "createdAt": "2023-01-01T00:00:00.000Z", "updatedAt": "2023-01-02T00:00:00.000Z", "newField": 1
            }),
        );
        assert_eq!(
            (i.personnel_id.as_str(), i.ordinal, i.user_id.as_deref(), i.id.as_deref()),
            ("42", 1, Some("7"), Some("70"))
        );
        assert_eq!(i.identity_id.as_deref(), Some("00u7okta"));
        assert_eq!(i.connection_id.as_deref(), Some("3"));
        assert_eq!(i.connection_client_type.as_deref(), Some("OKTA_IDENTITY"));
        assert_eq!(i.connection_client_id.as_deref(), Some("acme.okta"));
        assert_eq!((i.connection_client_alias.as_deref(), i.connection_state.as_deref()), (None, Some("ACTIVE")));
        assert_eq!(i.connection_deleted_at, None);
        assert_eq!((i.username.as_deref(), i.email.as_deref()), (Some("ana"), Some("ana@example.com")));
        assert_eq!(i.secondary_email.as_deref(), Some("a@alt.example"));
        assert_eq!((i.first_name.as_deref(), i.last_name.as_deref()), (Some("Ana"), Some("Lee")));
        assert_eq!((i.has_mfa, i.is_contractor), (Some(false), Some(true)));
        assert_eq!(i.connected_at.unwrap().to_rfc3339(), "2024-01-02T03:04:05+00:00");
        assert_eq!(i.disconnected_at, None);
        assert!(i.is_linked());
        assert_eq!(i.started_at.unwrap().to_string(), "2023-02-01");
        assert_eq!(i.separated_at, None, "an unparsable date goes to extra");
        assert_eq!((i.job_title.as_deref(), i.manager_id.as_deref()), (Some("Eng"), Some("00u1boss")));
        assert_eq!(i.manager_name.as_deref(), Some("Bo Ss"));
        assert_eq!(i.updated_at.unwrap().to_rfc3339(), "2023-01-02T00:00:00+00:00");
        let extra: Value = serde_json::from_str(i.extra.as_deref().unwrap()).unwrap();
        assert_eq!(
            extra,
            json!({"separatedAt": "Fri Jun 26 2026", "newField": 1, "connection": {"createdAt": "2023-01-01T00:00:00.000Z"}})
        );
        // Liberal: a bare value, no connection (the user id comes from the user), a deleted
        // connection unlinks.
        let i = identity_from_wire("1", Some("9"), 0, json!("junk"));
        assert_eq!((i.user_id.as_deref(), i.extra.as_deref()), (Some("9"), Some(r#"{"value":"junk"}"#)));
        let i = identity_from_wire("1", None, 0, json!({"connection": {"id": 4, "deletedAt": "2024-01-01T00:00:00Z"}}));
        assert_eq!(i.connection_id.as_deref(), Some("4"));
        assert!(!i.is_linked());
    }

    fn identity(linked: bool, contractor: Option<bool>, title: Option<&str>) -> Identity {
        Identity {
            disconnected_at: (!linked).then(|| crate::record::parse_lenient_timestamp("2024-01-01").unwrap()),
            is_contractor: contractor,
            job_title: title.map(str::to_string),
            ..Identity::default()
        }
    }

    #[test]
    fn employment_type_from_status_then_identities() {
        let none: [Identity; 0] = [];
        for (status, want) in [
            ("CURRENT_CONTRACTOR", "CONTRACTOR"),
            ("FORMER_CONTRACTOR", "CONTRACTOR"),
            ("SPECIAL_FORMER_CONTRACTOR", "CONTRACTOR"),
            ("CURRENT_EMPLOYEE", "FULL_TIME"),
            ("FORMER_EMPLOYEE", "FULL_TIME"),
            ("SPECIAL_FORMER_EMPLOYEE", "FULL_TIME"),
        ] {
            assert_eq!(employment_type_of(Some(status), &none).as_deref(), Some(want), "{status}");
            // The status decides over the identities.
            assert_eq!(
                employment_type_of(Some(status), &[identity(true, Some(want == "FULL_TIME"), None)]).as_deref(),
                Some(want)
            );
        }
        // Other statuses: the first linked identity that says, else the first that says.
        let ids = [identity(false, Some(true), None), identity(true, None, None), identity(true, Some(false), None)];
        assert_eq!(employment_type_of(Some("FUTURE_HIRE"), &ids).as_deref(), Some("FULL_TIME"));
        assert_eq!(employment_type_of(None, &ids[..2]).as_deref(), Some("CONTRACTOR"));
        assert_eq!(employment_type_of(Some("OUT_OF_SCOPE"), &ids[1..2]), None);
        assert_eq!(employment_type_of(Some("UNKNOWN"), &none), None);
    }

    #[test]
    fn title_falls_back_to_the_deciding_identity() {
        let mut p = Person {
            identities: vec![
                identity(false, None, Some("Old")),
                identity(true, None, Some(" ")),
                identity(true, None, Some("Eng")),
            ],
            ..Person::default()
        };
        derive_from_identities(&mut p);
        assert_eq!(p.title.as_deref(), Some("Eng"));
        // The user's own title wins; derived fields never overwrite what the record has.
        let mut p = Person { title: Some("Boss".into()), employment_type: Some("INTERN".into()), ..p };
        derive_from_identities(&mut p);
        assert_eq!((p.title.as_deref(), p.employment_type.as_deref()), (Some("Boss"), Some("INTERN")));
        let mut p = Person { identities: vec![identity(false, None, Some("Old"))], ..Person::default() };
        derive_from_identities(&mut p);
        assert_eq!(p.title.as_deref(), Some("Old"));
    }

    #[test]
    fn device_maps_every_documented_field_and_its_checks() {
        let wire: Value = serde_json::from_str(
            r#"{
             "id": 11, "assetId": 5, "osVersion": "MacOS 15.1", "serialNumber": "C02", "model": "MacBook Pro",
             "macAddress": "65-F9", "lastCheckedAt": "2025-07-01T16:45:55.246Z", "sourceType": "AGENT",
             "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-02T00:00:00.000Z", "deletedAt": null,
             "appsCount": 20.0, "isDeviceCompliant": false, "screenLockTime": "30",
             "screenLockExplanation": {"minutesIdleBeforeSleep": "2"}, "antivirusEnabled": false,
             "antivirusExplanation": "No matching app was found", "autoUpdateEnabled": true, "autoUpdateExplanation": null,
             "passwordManagerEnabled": true, "passwordManagerExplanation": {"passwordManagerApps": ["1password 7"]},
             "encryptionEnabled": false, "encryptionExplanation": "No encryption provided", "firewallEnabled": true,
             "firewallExplanation": {}, "userId": 7, "personnelId": 42, "externalId": "jamf-11",
             "identifiers": [{"id": 1, "type": "SERIAL_NUMBER", "identifier": "C02"}, {"type": "MAC"}],
             "asset": {"id": 5},
             "complianceChecks": [
                 {"id": 110, "type": "HDD_ENCRYPTION", "status": "FAIL", "checkFrequency": "DAILY", "completionDate": null,
                  "expiresAt": null, "lastCheckedAt": "2025-07-01T00:00:00.000Z", "createdAt": "2025-01-01T00:00:00.000Z",
                  "updatedAt": "2025-01-01T00:00:00.000Z"},
                 {"id": 111, "type": "ANTIVIRUS", "status": "PASS", "odd": true}
             ]
            }"#,
        )
        .unwrap();
        let (named, d) = device_from_wire("", wire);
        assert_eq!(named.as_deref(), Some("42"));
        assert_eq!((d.device_id.as_deref(), d.asset_id.as_deref()), (Some("11"), Some("5")));
        assert_eq!((d.os_version.as_deref(), d.serial_number.as_deref()), (Some("MacOS 15.1"), Some("C02")));
        assert_eq!((d.model.as_deref(), d.mac_address.as_deref()), (Some("MacBook Pro"), Some("65-F9")));
        assert_eq!(d.last_checked_at.unwrap().to_rfc3339(), "2025-07-01T16:45:55.246+00:00");
        assert_eq!(d.source_type.as_deref(), Some("AGENT"));
        assert_eq!(d.updated_at.unwrap().to_rfc3339(), "2025-01-02T00:00:00+00:00");
        assert_eq!(d.deleted_at, None);
        assert_eq!((d.apps_count, d.screen_lock_time, d.is_device_compliant), (Some(20), Some(30), Some(false)));
        assert_eq!(d.screen_lock_explanation.as_deref(), Some(r#"{"minutesIdleBeforeSleep":"2"}"#));
        assert_eq!(
            (d.antivirus_enabled, d.antivirus_explanation.as_deref()),
            (Some(false), Some("No matching app was found"))
        );
        assert_eq!((d.auto_update_enabled, d.auto_update_explanation.as_deref()), (Some(true), None));
        assert_eq!(d.password_manager_explanation.as_deref(), Some(r#"{"passwordManagerApps":["1password 7"]}"#));
        assert_eq!(
            (d.encryption_enabled, d.encryption_explanation.as_deref()),
            (Some(false), Some("No encryption provided"))
        );
        assert_eq!((d.firewall_enabled, d.firewall_explanation.as_deref()), (Some(true), Some("{}")));
        assert_eq!((d.user_id.as_deref(), d.external_id.as_deref()), (Some("7"), Some("jamf-11")));
        assert_eq!(d.identifiers, Some(vec!["SERIAL_NUMBER:C02".to_string(), "MAC:".to_string()]));
        assert_eq!(d.extra.as_deref(), Some(r#"{"asset":{"id":5}}"#));
        assert_eq!(d.checks.len(), 2);
        let c = &d.checks[0];
        assert_eq!((c.device_id.as_deref(), c.ordinal, c.check_id.as_deref()), (Some("11"), 0, Some("110")));
        assert_eq!((c.check_type.as_deref(), c.status.as_deref()), (Some("HDD_ENCRYPTION"), Some("FAIL")));
        assert_eq!((c.check_frequency.as_deref(), c.completion_date), (Some("DAILY"), None));
        assert_eq!(c.last_checked_at.unwrap().to_rfc3339(), "2025-07-01T00:00:00+00:00");
        assert!(c.created_at.is_some() && c.updated_at.is_some() && c.extra.is_none());
        assert_eq!(d.checks[1].extra.as_deref(), Some(r#"{"odd":true}"#));
        // The join hands the device (and its checks) to a person.
        let moved = device_for("42", &d);
        assert!(moved.personnel_id == "42" && moved.checks.iter().all(|c| c.personnel_id == "42"));
        // Liberal: numbers that do not fit go to extra; no identifiers sent is null, not empty.
        let (named, d) = device_from_wire("9", json!({"id": 1, "appsCount": 1.5, "screenLockTime": 1e12}));
        assert_eq!(
            (named, d.personnel_id.as_str(), d.apps_count, d.screen_lock_time, d.identifiers),
            (None, "9", None, None, None)
        );
        assert_eq!(d.extra.as_deref(), Some(r#"{"appsCount":1.5,"screenLockTime":1000000000000.0}"#));
    }

    #[tokio::test]
    async fn training_joins_checks_and_the_users_documents() {
        // The documents are asked for by the person's user id, and land on the check's row.
        let p = person(Some("7"));
        let asked = std::sync::Mutex::new(Vec::new());
        let got = training(&p, |u| {
            asked.lock().unwrap().push(u.to_string());
            async { Ok::<_, EtlError>(Child::Rows(vec![json!({"id": 3, "name": "cert.pdf"})])) }
        })
        .await
        .unwrap();
        let Child::Rows(rows) = got else { panic!("rows expected") };
        assert_eq!(asked.into_inner().unwrap(), ["7"]);
        assert_eq!(
            (rows.len(), rows[0].name.as_deref(), rows[0].status.as_deref()),
            (1, Some("SECURITY_TRAINING"), Some("PASS"))
        );
        let docs = rows[0].documents.as_ref().unwrap();
        assert_eq!((docs.len(), docs[0].id.as_deref(), docs[0].name.as_deref()), (1, Some("3"), Some("cert.pdf")));
        assert_eq!(rows[0].extra, None);

        // No user: nothing to ask for, the checks alone.
        let p = person(None);
        let no_request =
            |_: &str| -> std::future::Ready<Result<Child<Value>, EtlError>> { panic!("no user, no request") };
        let got = training(&p, no_request).await.unwrap();
        assert!(matches!(got, Child::Rows(rows) if rows.len() == 1 && rows[0].documents == Some(vec![])));

        // The user is gone: so is the person, whatever the checks say.
        let p = person(Some("7"));
        assert!(matches!(training(&p, |_| async { Ok::<_, EtlError>(Child::Gone) }).await.unwrap(), Child::Gone));
    }

    #[test]
    fn documents_keep_every_documented_field_and_nothing_is_lost() {
        let d = document_from_wire(json!({
            "id": 31, "userId": 7, "name": "cert.pdf", "type": "SEC_TRAINING", "fileUrl": null,
            "renewalDate": "2026-01-15T00:00:00.000Z", "createdAt": "2025-01-15T10:00:00.000Z", "updatedAt": "garbage",
            "downloadUrl": {"signedUrl": "https://s.example/x"}
        }));
        assert_eq!(
            (d.id.as_deref(), d.user_id.as_deref(), d.name.as_deref()),
            (Some("31"), Some("7"), Some("cert.pdf"))
        );
        assert_eq!((d.doc_type.as_deref(), d.file_url.as_deref()), (Some("SEC_TRAINING"), None));
        // A date-time where a date is documented: its calendar date.
        assert_eq!(d.renewal_date.unwrap().to_string(), "2026-01-15");
        assert_eq!(d.created_at.unwrap().to_rfc3339(), "2025-01-15T10:00:00+00:00");
        // The malformed time and the undocumented download link stay in the document's extra.
        let extra: Value = serde_json::from_str(d.extra.as_deref().unwrap()).unwrap();
        assert_eq!(extra, json!({"updatedAt": "garbage", "downloadUrl": {"signedUrl": "https://s.example/x"}}));
        // Not an object: kept whole.
        let d = document_from_wire(json!("odd"));
        assert_eq!((d.id, d.extra.as_deref()), (None, Some(r#"{"value":"odd"}"#)));
    }

    #[test]
    fn compliance_checks_map_exclusions_and_keep_what_does_not_fit() {
        let c = compliance_check_from_wire(
            "1",
            0,
            json!({"id": 9, "type": "BG_CHECK", "status": "EXCLUDED", "createdAt": null, "updatedAt": "2024-01-01",
                   "exclusion": {"id": 4, "reason": null, "createdById": 100001, "startDate": "nope", "endDate": null}}),
        );
        assert_eq!((c.created_at, c.updated_at.unwrap().to_rfc3339()), (None, "2024-01-01T00:00:00+00:00".into()));
        assert_eq!((c.exclusion_id.as_deref(), c.exclusion_reason.as_deref()), (Some("4"), None));
        assert_eq!((c.exclusion_created_by_id.as_deref(), c.exclusion_start_date), (Some("100001"), None));
        assert_eq!(c.extra.as_deref(), Some(r#"{"exclusion":{"startDate":"nope"}}"#));
        // v1 sends no exclusion; a null one is none.
        let c = compliance_check_from_wire("1", 0, json!({"id": 9, "exclusion": null}));
        assert_eq!((c.exclusion_id, c.extra), (None, None));
        // An exclusion that is not an object stays in extra.
        let c = compliance_check_from_wire("1", 0, json!({"exclusion": "yes"}));
        assert_eq!(c.extra.as_deref(), Some(r#"{"exclusion":"yes"}"#));
    }
}
