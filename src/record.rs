//! The canonical records every API dialect produces and every writer consumes.
//!
//! Nothing here knows HTTP, a dialect's wire format, Arrow or Parquet. Values a dialect
//! cannot express are `None`; values the canonical shape has no column for are kept as a
//! JSON object in `extra`, so nothing the API sent is lost.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One personnel record as listed by the API (before enrichment).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    /// Kept as a string so values the guide does not list survive.
    pub employment_type: Option<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub is_active: Option<bool>,
    pub role: Option<String>,
    pub manager_id: Option<String>,
    pub compliance_status: Option<String>,
    /// The server's training summary, as compact JSON text (its shape is undocumented).
    pub training_status: Option<String>,
    pub external_id: Option<String>,
    /// Unknown fields and values that did not fit their column, as a JSON object.
    pub extra: Option<String>,
    // Fields only the real v1/v2 dialects fill (issue 6). Skipped when empty so the guide
    // dialect's spill lines and fingerprints stay exactly what they were before.
    /// Drata's `employmentStatus` (CURRENT_EMPLOYEE, FORMER_CONTRACTOR, ...), kept raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employment_status: Option<String>,
    /// The Drata user id behind the personnel record (`user.id` / `userId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The `complianceChecks[]` the list record carried (real dialects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance_checks: Vec<ComplianceCheck>,
    /// Background checks that came with the listing (v1 `user.backgroundChecks`, v2 joined
    /// from `/v2/users` by user id): `Some` means no per-person call is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_background_checks: Option<Vec<BackgroundCheck>>,
    /// The documented real-API personnel and user fields that have no guide counterpart
    /// (issue 17). Skipped when empty, so guide fingerprints stay what they were.
    #[serde(default, skip_serializing_if = "PersonDetails::is_empty")]
    pub details: PersonDetails,
    /// The user's `identities[]` (real dialects), mapped. List-level data like the
    /// compliance checks, but outside the fingerprint (see `Person::fingerprint`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<Identity>,
    /// The person's devices (v1 `devices[]`, v2 joined from `/v2/devices`), each with its
    /// compliance checks. Outside the fingerprint, like `identities`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
}

/// A real-dialect personnel record's documented fields beyond the canonical ones
/// (`reference/drata-real-api.md` section 3); each is a column of `personnel`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersonDetails {
    pub status_updated_at: Option<DateTime<Utc>>,
    pub not_human_reason: Option<String>,
    /// `reasonProvider.id`: the user who marked the person out of scope.
    pub reason_provider_user_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub user_created_at: Option<DateTime<Utc>>,
    pub user_updated_at: Option<DateTime<Utc>>,
    /// Drata platform roles (ADMIN, EMPLOYEE, ...), in API order.
    pub roles: Option<Vec<String>>,
    pub avatar_url: Option<String>,
    pub drata_terms_agreed_at: Option<DateTime<Utc>>,
    pub user_entry_id: Option<String>,
    // v1 list-only fields.
    pub os_version: Option<String>,
    pub serial_number: Option<String>,
    pub agent_enabled: Option<bool>,
    pub manual_upload_enabled: Option<bool>,
    pub devices_count: Option<i32>,
    pub devices_failing_compliance_count: Option<i32>,
    // v1 agent data (`data`).
    pub agent_version: Option<String>,
    pub agent_os_version: Option<String>,
    pub agent_serial_number: Option<String>,
    pub agent_mac_address: Option<String>,
    pub agent_screen_lock_time: Option<String>,
    pub agent_last_checked_at: Option<DateTime<Utc>>,
    pub agent_created_at: Option<DateTime<Utc>>,
    pub agent_updated_at: Option<DateTime<Utc>>,
}

impl PersonDetails {
    pub fn is_empty(&self) -> bool {
        *self == PersonDetails::default()
    }
}

/// One identity (IdP/HRIS account) linked to a person's Drata user (`UserIdentity...Dto`):
/// one row of `personnel_identities`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub personnel_id: String,
    pub user_id: Option<String>,
    /// Position in the user's `identities[]` (0-based).
    pub ordinal: i32,
    /// The identity record's own id (`id`).
    pub id: Option<String>,
    /// The external service's id for the account (`identityId`): what `managerId` names.
    pub identity_id: Option<String>,
    /// `connectionId`, else `connection.id`.
    pub connection_id: Option<String>,
    pub connection_client_type: Option<String>,
    pub connection_client_id: Option<String>,
    pub connection_client_alias: Option<String>,
    pub connection_state: Option<String>,
    pub connection_deleted_at: Option<DateTime<Utc>>,
    pub username: Option<String>,
    pub email: Option<String>,
    pub secondary_email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub has_mfa: Option<bool>,
    pub connected_at: Option<DateTime<Utc>>,
    pub disconnected_at: Option<DateTime<Utc>>,
    pub started_at: Option<NaiveDate>,
    pub separated_at: Option<NaiveDate>,
    pub is_contractor: Option<bool>,
    pub job_title: Option<String>,
    /// The manager's `identityId` in the same connection.
    pub manager_id: Option<String>,
    pub manager_name: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub extra: Option<String>,
}

impl Identity {
    /// Still linked: not disconnected, and its connection not deleted.
    pub fn is_linked(&self) -> bool {
        self.disconnected_at.is_none() && self.connection_deleted_at.is_none()
    }
}

/// One device of one person (`DeviceResponsePublicV2Dto`, also v1's `devices[]`): one row of
/// `personnel_devices`; its compliance checks travel with it to `personnel_device_checks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub personnel_id: String,
    pub device_id: Option<String>,
    pub asset_id: Option<String>,
    pub os_version: Option<String>,
    pub serial_number: Option<String>,
    pub model: Option<String>,
    pub mac_address: Option<String>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub source_type: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub apps_count: Option<i32>,
    pub is_device_compliant: Option<bool>,
    pub screen_lock_time: Option<i32>,
    /// The `*Explanation` values: text as sent, objects and arrays as compact JSON text.
    pub screen_lock_explanation: Option<String>,
    pub antivirus_enabled: Option<bool>,
    pub antivirus_explanation: Option<String>,
    pub auto_update_enabled: Option<bool>,
    pub auto_update_explanation: Option<String>,
    pub password_manager_enabled: Option<bool>,
    pub password_manager_explanation: Option<String>,
    pub encryption_enabled: Option<bool>,
    pub encryption_explanation: Option<String>,
    pub firewall_enabled: Option<bool>,
    pub firewall_explanation: Option<String>,
    pub user_id: Option<String>,
    pub external_id: Option<String>,
    /// `identifiers[]` as `TYPE:identifier` texts; `None` when the API sent none.
    pub identifiers: Option<Vec<String>>,
    pub extra: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<DeviceCheck>,
}

/// One compliance check of one device: one row of `personnel_device_checks`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceCheck {
    pub personnel_id: String,
    pub device_id: Option<String>,
    /// Position in the device's `complianceChecks[]` (0-based).
    pub ordinal: i32,
    pub check_id: Option<String>,
    /// HDD_ENCRYPTION, ANTIVIRUS, LOCK_SCREEN, ... (kept as sent).
    pub check_type: Option<String>,
    pub status: Option<String>,
    pub check_frequency: Option<String>,
    pub completion_date: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub extra: Option<String>,
}

/// One entry of a real-dialect personnel record's `complianceChecks[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComplianceCheck {
    pub personnel_id: String,
    /// Position in the record's list (0-based).
    pub ordinal: i32,
    pub check_id: Option<String>,
    /// FULL_COMPLIANCE, SECURITY_TRAINING, BG_CHECK, ... (kept as sent).
    pub check_type: Option<String>,
    /// PASS, FAIL, MISCONFIGURED, EXCLUDED, ... (kept as sent).
    pub status: Option<String>,
    pub check_frequency: Option<String>,
    pub completion_date: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub extra: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// v2's `exclusion` (set when an admin excluded the person from the check).
    pub exclusion_id: Option<String>,
    pub exclusion_reason: Option<String>,
    pub exclusion_created_by_id: Option<String>,
    pub exclusion_created_by_email: Option<String>,
    pub exclusion_created_at: Option<DateTime<Utc>>,
    pub exclusion_start_date: Option<DateTime<Utc>>,
    pub exclusion_end_date: Option<DateTime<Utc>>,
}

/// The compliance-check types that are trainings (they also fill `personnel_training`).
pub const TRAINING_CHECK_TYPES: [&str; 3] = ["SECURITY_TRAINING", "HIPAA_TRAINING", "NIST_AI_TRAINING"];

/// `is_active` for the real dialects: a current employee or contractor. Every other status is
/// inactive, among them the deprecated `SPECIAL_FORMER_EMPLOYEE` / `SPECIAL_FORMER_CONTRACTOR`
/// (former people Drata still sends for old records: leavers, never active).
pub fn active_from_employment_status(status: &str) -> bool {
    matches!(status, "CURRENT_EMPLOYEE" | "CURRENT_CONTRACTOR")
}

/// Parse a date-time leniently into UTC: RFC 3339, a naive date-time (taken as UTC), or a
/// plain date (midnight UTC). `None` for anything else.
pub fn parse_lenient_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}

/// What happened when a person's child records were fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchStatus {
    /// Fetched; the child rows written are the person's complete list.
    Ok,
    /// The API answered 404: the person vanished between listing and enrichment.
    Gone,
    /// Still failing after retries: the person's child rows are unknown, not empty.
    Failed,
}

impl FetchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FetchStatus::Ok => "ok",
            FetchStatus::Gone => "gone",
            FetchStatus::Failed => "failed",
        }
    }
}

impl Person {
    /// A stable fingerprint (128 bits of SHA-256, hex) over every list-level field, used
    /// to tell whether a person changed since an earlier snapshot. Persisted, so it must
    /// not depend on the Rust version or process: serde's field order is fixed here.
    ///
    /// `identities` and `devices` are left out: they are written afresh for every person on
    /// every run (reused or not), the per-person child data does not depend on them, and a
    /// device's `lastCheckedAt` moves constantly, which would make everyone look changed.
    pub fn fingerprint(&self) -> String {
        let bytes = if self.identities.is_empty() && self.devices.is_empty() {
            serde_json::to_vec(self)
        } else {
            serde_json::to_vec(&Person { identities: Vec::new(), devices: Vec::new(), ..self.clone() })
        }
        .expect("a person always serialises");
        hex::encode(&Sha256::digest(&bytes)[..16])
    }
}

/// A person after enrichment: the listed record plus how each child fetch ended.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrichedPerson {
    pub person: Person,
    pub training_fetch: FetchStatus,
    pub background_check_fetch: FetchStatus,
    /// How the assigned-policies call ended; `None` where the dialect has no such endpoint
    /// (guide, v1), written as `not_available`.
    pub policies_fetch: Option<FetchStatus>,
    /// `Person::fingerprint` of the listed record.
    pub list_fingerprint: String,
    /// When the child data was fetched (earlier than the run for reused people); `None`
    /// when a child fetch failed.
    pub enriched_at: Option<DateTime<Utc>>,
}

impl EnrichedPerson {
    /// Whether any of the person's child fetches ended as `status` (a person counts as gone
    /// or failed when one of their calls did).
    pub fn any_fetch(&self, status: FetchStatus) -> bool {
        self.training_fetch == status || self.background_check_fetch == status || self.policies_fetch == Some(status)
    }
}

/// One training record of one person. Retakes of a course are separate rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Training {
    pub personnel_id: String,
    /// Position in the API's list for this person (0-based), so retakes stay distinct.
    pub ordinal: i32,
    pub name: Option<String>,
    pub status: Option<String>,
    pub completed_at: Option<NaiveDate>,
    pub extra: Option<String>,
    /// When this row was fetched from the API.
    pub enriched_at: Option<DateTime<Utc>>,
    // Real dialects: the training compliance check behind the row, and its evidence.
    pub check_id: Option<String>,
    pub check_frequency: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    /// The user's SEC_TRAINING documents (on the SECURITY_TRAINING row; `None` on other
    /// rows and in the guide dialect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<Vec<TrainingDocument>>,
}

/// One user document (`type=SEC_TRAINING`) attached to a training row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingDocument {
    pub id: Option<String>,
    /// v2's `userId` (v1 documents do not carry it).
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub doc_type: Option<String>,
    pub file_url: Option<String>,
    pub renewal_date: Option<NaiveDate>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Undocumented fields and values that did not fit, as a JSON object.
    pub extra: Option<String>,
}

/// One background check of one person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackgroundCheck {
    pub personnel_id: String,
    pub ordinal: i32,
    pub status: Option<String>,
    pub completed_at: Option<NaiveDate>,
    pub extra: Option<String>,
    /// When this row was fetched from the API.
    pub enriched_at: Option<DateTime<Utc>>,
    // Real dialects (`BackgroundCheckResponsePublicV2Dto`); `completed_at` is `manualCheckDate`.
    pub id: Option<String>,
    pub user_id: Option<String>,
    /// KARMACHECK, MANUAL, CERTN, CHECKR, HRIS_RIPPLING, ... (kept as sent).
    pub check_type: Option<String>,
    pub source: Option<String>,
    pub case_id: Option<String>,
    pub case_invitation_id: Option<String>,
    pub url: Option<String>,
    pub manually_check_url: Option<String>,
    /// `reportData` as sent (its shape is undocumented): text verbatim, anything else as JSON.
    pub report_data: Option<String>,
    pub out_of_scope_reason: Option<String>,
    pub out_of_scope_at: Option<DateTime<Utc>>,
    pub invitation_email: Option<String>,
    pub linked_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One policy version assigned to a person's user (v2 `GET /users/{userId}/assigned-policies`,
/// `UserPolicyVersionResponsePublicV2Dto` with its `policy` and `policyVersion` expanded).
/// Ids are text; times UTC; renewal dates calendar dates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyAssignment {
    pub personnel_id: String,
    pub user_id: Option<String>,
    /// Position in the API's list for this user (0-based; oldest assignment first).
    pub ordinal: i32,
    /// The user-policy-version id (`id`).
    pub user_policy_version_id: Option<String>,
    pub policy_id: Option<String>,
    pub policy_name: Option<String>,
    pub policy_description: Option<String>,
    /// ACTIVE, ARCHIVED, REPLACED, UNACCEPTABLE, OUTDATED, ... (kept as sent).
    pub policy_status: Option<String>,
    /// ALL, GROUP, NONE, ... (kept as sent).
    pub assigned_to: Option<String>,
    pub policy_renewal_date: Option<NaiveDate>,
    pub policy_created_at: Option<DateTime<Utc>>,
    pub policy_updated_at: Option<DateTime<Utc>>,
    pub policy_version_id: Option<String>,
    pub version: Option<i32>,
    pub sub_version: Option<i32>,
    pub version_is_current: Option<bool>,
    /// BUILDER, UPLOADED, EXTERNAL, ... (kept as sent).
    pub version_type: Option<String>,
    pub version_description: Option<String>,
    pub version_changes_explanation: Option<String>,
    pub requires_acknowledgment: Option<bool>,
    pub version_renewal_date: Option<NaiveDate>,
    pub published_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub version_created_at: Option<DateTime<Utc>>,
    pub version_updated_at: Option<DateTime<Utc>>,
    /// Null: the user has not acknowledged this version.
    pub accepted_at: Option<DateTime<Utc>>,
    /// UNKNOWN, BAMBOO_HR, CSV, MY_DRATA, PUBLIC_API, ... (kept as sent).
    pub source_type: Option<String>,
    pub details: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub extra: Option<String>,
    /// When this row was fetched from the API.
    pub enriched_at: Option<DateTime<Utc>>,
}

/// One control; `owner_id` points at a personnel id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub id: String,
    pub name: Option<String>,
    pub status: Option<String>,
    pub owner_id: Option<String>,
    pub extra: Option<String>,
    /// Real dialects: every owner's Drata *user* id, in API order (a control may have
    /// several owners). Empty for the guide, whose single `ownerId` is a personnel id.
    pub owner_user_ids: Vec<String>,
    /// Every owner as a personnel id (guide: `[owner_id]`; real dialects: the owners whose
    /// user id belongs to a listed person). Filled by `resolve_owners`.
    pub owner_ids: Vec<String>,
    /// The documented real-API control fields (issue 17); empty for the guide.
    #[serde(default)]
    pub details: ControlDetails,
}

/// A real-dialect control's documented fields (`reference/drata-real-api.md` section 5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlDetails {
    /// DCF-85 and the like.
    pub code: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub question: Option<String>,
    pub activity: Option<String>,
    pub archived_at: Option<DateTime<Utc>>,
    pub rationale: Option<String>,
    pub control_template_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub workspace_id: Option<String>,
    pub framework_tags: Option<Vec<String>>,
    pub topics: Option<Vec<String>>,
    pub has_evidence: Option<bool>,
    pub has_policy: Option<bool>,
    pub has_owner: Option<bool>,
    pub is_monitored: Option<bool>,
    pub is_ready: Option<bool>,
    pub has_ticket: Option<bool>,
}

impl Control {
    /// Map owners' user ids to personnel ids (`user_to_personnel`), so `owner_id` and
    /// `owner_ids` mean the same in every dialect: personnel ids.
    pub fn resolve_owners(&mut self, user_to_personnel: &std::collections::HashMap<String, String>) {
        if self.owner_user_ids.is_empty() {
            self.owner_ids = self.owner_id.iter().cloned().collect();
            return;
        }
        self.owner_ids = self.owner_user_ids.iter().filter_map(|u| user_to_personnel.get(u).cloned()).collect();
        self.owner_id = self.owner_user_ids.first().and_then(|u| user_to_personnel.get(u).cloned());
    }
}

/// A 128-bit in-memory key for an id (two SipHash passes): sets of these dedupe and
/// compare people without holding their id strings. Not stable across processes: never
/// persist it.
pub fn id_key(id: &str) -> u128 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut a = DefaultHasher::new();
    (0u8, id).hash(&mut a);
    let mut b = DefaultHasher::new();
    (1u8, id).hash(&mut b);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

/// Parse a documented ISO date leniently: a plain date, or a date-time whose date part is
/// taken as written (no time-zone shift). Returns `None` for anything else, so the caller
/// can keep the raw text in `extra` instead of failing the record.
pub fn parse_lenient_date(raw: &str) -> Option<NaiveDate> {
    let s = raw.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d);
    }
    // A date-time: validate the whole thing, then keep its calendar date.
    if chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok()
    {
        return s.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    }
    None
}

/// How a person's chain of managers ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStatus {
    /// It reaches a person without a manager (the top).
    Ok,
    /// It reaches a `manager_id` that names nobody in the snapshot.
    Dangling,
    /// It runs into a cycle (the person may be on it or only lead into it).
    Cycle,
}

impl ChainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChainStatus::Ok => "ok",
            ChainStatus::Dangling => "dangling",
            ChainStatus::Cycle => "cycle",
        }
    }
}

/// One row of `personnel_org` (see `schemas/personnel_org.json`), derived from a snapshot's
/// personnel by `load::org` rather than read from the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    pub id: String,
    pub manager_id: Option<String>,
    /// The manager's email; null when there is no manager or the manager is unknown.
    pub manager_email: Option<String>,
    /// Managers above the person (0 for the top); an unknown manager counts as one level.
    /// Null on a cycle, where depth has no meaning.
    pub depth: Option<i32>,
    /// The top of the person's tree (themselves at depth 0); null unless the chain is ok.
    pub top_manager_id: Option<String>,
    /// The person's id, their manager's, and so on up to the top; a dangling chain ends with
    /// the unknown id, a cycle with the first id that repeats.
    pub chain: Vec<String>,
    pub chain_status: ChainStatus,
    /// The person's own `manager_id` names nobody in the snapshot.
    pub manager_dangling: bool,
    /// The person is on a manager cycle (their chain comes back to them).
    pub in_cycle: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_current_people_are_active_and_special_former_ones_are_former() {
        for s in ["CURRENT_EMPLOYEE", "CURRENT_CONTRACTOR"] {
            assert!(active_from_employment_status(s), "{s}");
        }
        for s in [
            "FORMER_EMPLOYEE",
            "FORMER_CONTRACTOR",
            "SPECIAL_FORMER_EMPLOYEE",
            "SPECIAL_FORMER_CONTRACTOR",
            "OUT_OF_SCOPE",
            "FUTURE_HIRE",
            "SERVICE_ACCOUNT",
            "UNKNOWN",
        ] {
            assert!(!active_from_employment_status(s), "{s}");
        }
    }

    #[test]
    fn fingerprint_sees_every_field() {
        let p = Person { id: "a".into(), ..Default::default() };
        let mut q = p.clone();
        assert_eq!(p.fingerprint(), q.fingerprint());
        assert_eq!(p.fingerprint().len(), 32);
        q.training_status = Some("{}".into());
        assert_ne!(p.fingerprint(), q.fingerprint());
        let mut r = p.clone();
        r.extra = Some(r#"{"x":1}"#.into());
        assert_ne!(p.fingerprint(), r.fingerprint());
    }

    #[test]
    fn fingerprint_ignores_identities_and_devices() {
        let p = Person { id: "a".into(), user_id: Some("7".into()), ..Default::default() };
        let mut q = p.clone();
        q.identities.push(Identity { personnel_id: "a".into(), identity_id: Some("x".into()), ..Default::default() });
        q.devices.push(Device {
            personnel_id: "a".into(),
            last_checked_at: parse_lenient_timestamp("2026-01-01T00:00:00Z"),
            ..Default::default()
        });
        assert_eq!(p.fingerprint(), q.fingerprint());
        // ...but they travel through the spill (serde) whole.
        let back: Person = serde_json::from_str(&serde_json::to_string(&q).unwrap()).unwrap();
        assert_eq!(back, q);
        // Without them the serialised form is what it was before they existed.
        assert_eq!(serde_json::to_value(&p).unwrap().get("identities"), None);
        assert_eq!(serde_json::to_value(&p).unwrap().get("devices"), None);
    }

    #[test]
    fn lenient_dates() {
        let d = NaiveDate::from_ymd_opt(2025, 1, 15).unwrap();
        assert_eq!(parse_lenient_date("2025-01-15"), Some(d));
        assert_eq!(parse_lenient_date(" 2025-01-15 "), Some(d));
        assert_eq!(parse_lenient_date("2025-01-15T23:30:00-05:00"), Some(d));
        assert_eq!(parse_lenient_date("2025-01-15T10:00:00Z"), Some(d));
        assert_eq!(parse_lenient_date("2025-01-15T10:00:00.123"), Some(d));
        assert_eq!(parse_lenient_date("15/01/2025"), None);
        assert_eq!(parse_lenient_date("2025-02-30"), None);
        assert_eq!(parse_lenient_date(""), None);
        assert_eq!(parse_lenient_date("2025-01-15Tgarbage"), None);
    }
}
