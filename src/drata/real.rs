//! The record mapping Drata's real API shares between its versions (v1 and v2 answer the
//! same record shapes under different envelopes): compliance checks, background checks,
//! the fields derived from the checks, the external id from a user's `identities[]`, and a
//! person's training rows (their training checks plus their SEC_TRAINING documents).
//!
//! Knows no request, path or paging style: `v1` and `v2` fetch, this maps. Knows nothing
//! of Parquet.

use super::wire::Fields;
use super::wire::{fields_of, Child};
use crate::error::EtlError;
use crate::record::{
    active_from_employment_status, BackgroundCheck, ComplianceCheck, ControlDetails, Person, PersonDetails, Training,
    TrainingDocument, TRAINING_CHECK_TYPES,
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
