//! The simulated workspace as Drata's *real* API sees it (v1 and v2 share it): the same
//! generated people as the guide dialect, re-expressed with the real API's ids and shapes
//! (`reference/drata-real-api.md`). Deterministic from `(seed, index)`, like `data`.
//!
//! Ids: personnel id = index + 1, user id = index + `USER_ID_BASE`, control id =
//! position + 1, workspace id 1. `employmentStatus` follows `isActive` and `employmentType`; the
//! FULL_COMPLIANCE check follows `complianceStatus`; SECURITY_TRAINING follows the guide
//! trainings (completed ones are also the user's SEC_TRAINING documents); BG_CHECK and the
//! user's background checks follow the guide background checks (people without any, if
//! contractors or every third index, are EXCLUDED, with an `exclusion` only v2 shows). Some
//! controls get more than ten owners, so v2's inline owner list is truncated for them.
//!
//! Identities (`user.identities` in v1, `/v2/users?expand[]=identities` in v2, one shape:
//! `UserIdentityResponsePublicV2Dto`): a person with a guide `externalId` has an identity
//! from the IdP connection whose `identityId` is that id (unlinked, `disconnectedAt` set,
//! for leavers, except those whose index is a multiple of 5: their offboarding lags and the
//! identity is still linked); `hasMfa` is false when the index is a multiple of 3; every fourth current person also has, *first*, an older identity from a
//! deleted Google connection, so "the first identity" and "the first linked identity"
//! differ. People without an `externalId` have no identities. An identity's `managerId` is
//! the guide manager's `externalId`; when that manager has none, it is the id the manager
//! would have (`HR-<index:06>`), which no identity carries: an unresolvable manager. The
//! Drata user's own `jobTitle` is null for every index ≡ 5 (mod 7) while the identities
//! still carry the title, so the title falls back to them.
//!
//! Devices (v1 `devices[]`, v2 `/devices`, one shape: `DeviceResponsePublicV2Dto` with
//! `complianceChecks` and `identifiers`): `real_devices` documents who has which. v2's
//! listing also holds one device of a personnel record no longer listed (`ORPHAN_DEVICE_ID`).
//!
//! The documented fields beyond these (personnel and user details, background-check
//! providers, control details) follow the rules in `real_fields`.
//!
//! Values are built as `serde_json::Value` with the real API's field names; nothing here is
//! shared with the client's models. Test overlays (`set_person_field`) apply to the guide
//! dialect only.

use serde_json::{json, Value};

use super::data::{Generator, Opt};
use super::Simulator;

/// User ids start here, so they never equal personnel ids.
pub(crate) const USER_ID_BASE: u64 = 100_001;
/// The one simulated workspace.
pub(crate) const WORKSPACE_ID: u64 = 1;
const STAMP: &str = super::real_fields::STAMP;

fn opt_str(o: &Opt<impl AsRef<str>>) -> Value {
    match o {
        Opt::Val(v) => Value::String(v.as_ref().to_string()),
        _ => Value::Null,
    }
}

/// `YYYY-MM-DD...` as a midnight UTC date-time.
fn midnight(date: &str) -> String {
    format!("{}T00:00:00.000Z", date.get(..10).unwrap_or(date))
}

/// Add a year to a `YYYY-MM-DD` prefix (Feb 29 becomes Mar 1's neighbour, Feb 28).
fn plus_year(date: &str) -> String {
    let y: i32 = date.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2025);
    let rest = date.get(4..10).unwrap_or("-01-01");
    let rest = if rest == "-02-29" { "-02-28" } else { rest };
    format!("{:04}{rest}T00:00:00.000Z", y + 1)
}

pub(crate) struct RealPerson {
    pub personnel_id: u64,
    pub user_id: u64,
    pub employment_status: &'static str,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub email: String,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub job_title: Value,
    pub role: &'static str,
    pub checks: Vec<Value>,
    pub background_checks: Vec<Value>,
    pub documents: Vec<Value>,
    pub identities: Vec<Value>,
}

/// A connection as identities carry it (`ConnectionCompactResponsePublicV2Dto`).
fn connection(id: u64, client_type: &str, client_id: &str, deleted: bool) -> Value {
    json!({
        "id": id, "clientType": client_type, "clientId": client_id, "clientAlias": null, "state": "ACTIVE",
        "createdAt": STAMP, "updatedAt": STAMP, "connectedAt": STAMP, "failedAt": null,
        "deletedAt": if deleted { Value::String(STAMP.into()) } else { Value::Null },
    })
}

impl Generator {
    /// The real API's view of person `index`.
    pub(crate) fn real_person(&self, index: u64) -> RealPerson {
        let p = self.person(index);
        let personnel_id = index + 1;
        let user_id = index + USER_ID_BASE;
        let contractor = matches!(p.employment_type, Opt::Val("CONTRACTOR"));
        let employment_status = match (p.is_active, contractor) {
            (true, false) => "CURRENT_EMPLOYEE",
            (true, true) => "CURRENT_CONTRACTOR",
            (false, false) => "FORMER_EMPLOYEE",
            (false, true) => "FORMER_CONTRACTOR",
        };
        let trainings = self.trainings(index);
        let bgs = self.background_checks(index);
        let check = |k: u64, t: &str, status: &str, freq: &str, done: Option<String>, expires: Option<String>| {
            json!({
                "id": personnel_id * 10 + k, "type": t, "status": status, "checkFrequency": freq,
                "completionDate": done, "expiresAt": expires, "lastCheckedAt": STAMP,
                "createdAt": STAMP, "updatedAt": STAMP,
            })
        };
        let full = match p.compliance_status {
            "COMPLIANT" => "PASS",
            "NON_COMPLIANT" => "FAIL",
            _ => "MISCONFIGURED",
        };
        let last_done =
            trainings.iter().filter(|t| t.status == "COMPLETED").filter_map(|t| t.completed_at.clone()).max();
        let mut checks = vec![check(0, "FULL_COMPLIANCE", full, "DAILY", None, None)];
        checks.push(match &last_done {
            Some(d) => check(1, "SECURITY_TRAINING", "PASS", "YEARLY", Some(midnight(d)), Some(plus_year(d))),
            None => check(1, "SECURITY_TRAINING", "FAIL", "YEARLY", None, None),
        });
        if index % 5 == 0 {
            checks.push(check(
                2,
                "HIPAA_TRAINING",
                if last_done.is_some() { "PASS" } else { "FAIL" },
                "YEARLY",
                last_done.as_deref().map(midnight),
                None,
            ));
        }
        let bg_pass = bgs.iter().any(|b| b.status == "PASSED");
        let mut bg_check = check(3, "BG_CHECK", if bg_pass { "PASS" } else { "FAIL" }, "ONCE", None, None);
        if bgs.is_empty() && (contractor || index % 3 == 0) {
            // Excluded by an admin; v2 says by whom and why (`exclusion`), v1 only the status.
            let reason = if contractor { "Screened by their agency" } else { "Hired before checks were required" };
            bg_check["status"] = json!("EXCLUDED");
            bg_check["exclusion"] = json!({
                "id": personnel_id, "reason": reason, "createdById": USER_ID_BASE,
                "createdByEmail": self.person(0).email, "createdAt": STAMP, "startDate": STAMP, "endDate": null,
            });
        }
        checks.push(bg_check);
        let background_checks = bgs
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let status = match b.status {
                    "PASSED" => "OK",
                    "FAILED" => "ISSUE",
                    _ => "PENDING",
                };
                super::real_fields::background_check(user_id, k as u64, status, b.completed_at.as_deref(), &p.email)
            })
            .collect();
        let documents = trainings
            .iter()
            .enumerate()
            .filter(|(_, t)| t.status == "COMPLETED")
            .map(|(k, t)| {
                json!({
                    "id": user_id * 10 + k as u64, "name": format!("{} certificate.pdf", t.name), "type": "SEC_TRAINING",
                    "fileUrl": super::real_fields::document_file_url(user_id * 10 + k as u64, k as u64), "renewalDate": t.completed_at.as_deref().map(plus_year).map(|d| d[..10].to_string()),
                    "createdAt": STAMP, "updatedAt": STAMP,
                })
            })
            .collect();
        let identities = self.identities(index, user_id, &p, contractor);
        RealPerson {
            personnel_id,
            user_id,
            employment_status,
            start_date: p.start_date.as_val_owned(),
            end_date: p.end_date.as_val_owned(),
            email: p.email,
            first_name: p.first_name,
            last_name: p.last_name,
            job_title: if index % 7 == 5 { Value::Null } else { opt_str(&p.title) },
            role: if p.role == "MEMBER" { "EMPLOYEE" } else { p.role },
            checks,
            background_checks,
            documents,
            identities,
        }
    }

    /// The user's identities (see the module docs for who has which).
    fn identities(&self, index: u64, user_id: u64, p: &super::data::Person, contractor: bool) -> Vec<Value> {
        let Opt::Val(external_id) = &p.external_id else { return Vec::new() };
        let manager = match &p.manager_id {
            Opt::Val(m) => self.index_of(m).map(|i| (i, self.person(i))),
            _ => None,
        };
        let manager_identity = manager.as_ref().map_or(Value::Null, |(i, m)| match &m.external_id {
            Opt::Val(e) => Value::String(e.clone()),
            _ => Value::String(format!("HR-{i:06}")),
        });
        let manager = manager.map(|(_, m)| m);
        let separated = p.end_date.as_val_owned().map(|d| midnight(&d));
        // Every fifth leaver's offboarding lags: the IdP account is still linked.
        let unlinked_at =
            (!p.is_active && index % 5 != 0).then(|| separated.clone().unwrap_or_else(|| STAMP.to_string()));
        let identity = |k: u64, identity_id: &str, conn: Value, disconnected: Option<String>| {
            json!({
                "id": user_id * 10 + k, "identityId": identity_id,
                "username": p.email.split('@').next().unwrap_or_default(),
                "connectedAt": STAMP, "disconnectedAt": disconnected, "hasMfa": index % 3 != 0,
                "userId": user_id, "connectionId": conn["id"].clone(), "connection": conn,
                "email": p.email, "secondaryEmail": null, "firstName": p.first_name, "lastName": p.last_name,
                "startedAt": p.start_date.as_val_owned().map(|d| midnight(&d)), "separatedAt": separated,
                "isContractor": contractor, "jobTitle": opt_str(&p.title),
                "managerId": manager_identity.clone(),
                "managerName": manager.as_ref().map(|m| format!("{} {}", m.first_name, m.last_name)),
                "createdAt": STAMP, "updatedAt": STAMP,
            })
        };
        let mut out = Vec::with_capacity(2);
        if p.is_active && index % 4 == 2 {
            let old = connection(2, "GOOGLE", "acme-corp.example", true);
            out.push(identity(1, &format!("google-{user_id}"), old, Some(STAMP.to_string())));
        }
        out.push(identity(
            0,
            external_id,
            connection(1, "OKTA_IDENTITY", "acme-corp.okta.example", false),
            unlinked_at,
        ));
        out
    }
}

/// The device id of v2's one device whose `personnelId` names nobody listed.
pub(crate) const ORPHAN_DEVICE_ID: u64 = 9_999_999;

/// One device compliance check (`DeviceComplianceCheckResponsePublicV2Dto`).
fn device_check(id: u64, check_type: &str, pass: bool) -> Value {
    json!({
        "id": id, "type": check_type, "status": if pass { "PASS" } else { "FAIL" }, "checkFrequency": "DAILY",
        "completionDate": if pass { Value::String(STAMP.into()) } else { Value::Null },
        "expiresAt": null, "lastCheckedAt": STAMP, "createdAt": STAMP, "updatedAt": STAMP,
    })
}

/// One device as `/v2/devices?expand[]=complianceChecks&expand[]=identifiers` serves it.
/// Explanations are objects, as the spec's schema says (its examples show bare text, which
/// the client also takes).
/// `settings`: encryption, antivirus, lock screen, auto-update, firewall, password manager.
fn device_json(id: u64, personnel_id: u64, user_id: u64, k: u64, settings: [bool; 6], deleted: bool) -> Value {
    let [encryption, antivirus, lock, auto_update, firewall, password_manager] = settings;
    let (os, model) = [("MacOS 15.1", "MacBook Pro"), ("Windows 11 23H2", "ThinkPad X1"), ("Ubuntu 24.04", "XPS 13")]
        [(k % 3) as usize];
    let source = ["AGENT", "JAMF", "KANDJI"][((personnel_id + k) % 3) as usize];
    let serial = format!("SN{personnel_id:06}{k}");
    let checks = vec![
        device_check(id * 10, "HDD_ENCRYPTION", encryption),
        device_check(id * 10 + 1, "ANTIVIRUS", antivirus),
        device_check(id * 10 + 2, "LOCK_SCREEN", lock),
        device_check(id * 10 + 3, "AUTO_UPDATES", auto_update),
        device_check(id * 10 + 4, "PASSWORD_MANAGER", password_manager),
    ];
    json!({
        "id": id, "assetId": if k == 2 { Value::Null } else { json!(id + 500_000) },
        "osVersion": os, "serialNumber": serial, "model": model,
        "macAddress": format!("65-F9-3D-{:02X}-{:02X}-{:02X}", personnel_id % 256, (personnel_id / 256) % 256, k),
        "lastCheckedAt": STAMP, "sourceType": source, "createdAt": STAMP, "updatedAt": STAMP,
        "deletedAt": if deleted { Value::String("2025-06-01T00:00:00.000Z".into()) } else { Value::Null },
        "appsCount": 12 + (id % 40),
        "isDeviceCompliant": settings.iter().take(4).chain([&password_manager]).all(|b| *b),
        "complianceChecks": checks,
        "identifiers": [{"id": id * 10, "type": "SERIAL_NUMBER", "identifier": serial, "createdAt": STAMP, "updatedAt": STAMP}],
        "screenLockTime": if lock { 300 } else { 3600 },
        "screenLockExplanation": {"minutesIdleBeforeSleep": if lock { "5" } else { "60" }, "minutesSleepingBeforePasswordIsRequired": "0"},
        "antivirusEnabled": antivirus,
        "antivirusExplanation": if antivirus { Value::Null } else { json!({"message": "No matching app was found"}) },
        "autoUpdateEnabled": auto_update,
        "autoUpdateExplanation": if auto_update { Value::Null } else { json!({"message": "No compliances found"}) },
        "passwordManagerEnabled": password_manager,
        "passwordManagerExplanation": if password_manager { json!({"passwordManagerApps": ["1password 7"]}) } else { Value::Null },
        "encryptionEnabled": encryption,
        "encryptionExplanation": if encryption { Value::Null } else { json!({"message": "No encryption provided"}) },
        "firewallEnabled": firewall,
        "firewallExplanation": if firewall { json!({}) } else { json!({"message": "Firewall is off"}) },
        "userId": user_id, "personnelId": personnel_id,
        "externalId": if source == "AGENT" { Value::Null } else { Value::String(format!("{}-{id}", source.to_ascii_lowercase())) },
    })
}

impl Generator {
    /// Person `index`'s devices: 0-3 (weights 25/40/25/10), the k-th with device id
    /// `personnel id * 10 + k`. Each setting fails on its own: encryption 15%, antivirus 20%,
    /// lock screen 15%, auto-update 10%, firewall 10%, password manager 25%;
    /// `isDeviceCompliant` is every check passing (the firewall has no check). One device in
    /// ten is deleted (`deletedAt` set); a device's third slot has no asset.
    /// How many devices person `index` has (the first draw of `real_devices`, alone: a page
    /// of the devices listing needs the counts of everyone before it, not their devices).
    pub(crate) fn real_device_count(&self, index: u64) -> u64 {
        self.device_rng(index).weighted(&[(25, 0u64), (40, 1), (25, 2), (10, 3)])
    }

    pub(crate) fn real_devices(&self, index: u64) -> Vec<Value> {
        let mut r = self.device_rng(index);
        let n = r.weighted(&[(25, 0u64), (40, 1), (25, 2), (10, 3)]);
        let (personnel_id, user_id) = (index + 1, index + USER_ID_BASE);
        (0..n)
            .map(|k| {
                let settings = [
                    !r.chance(0.15),
                    !r.chance(0.20),
                    !r.chance(0.15),
                    !r.chance(0.10),
                    !r.chance(0.10),
                    !r.chance(0.25),
                ];
                let deleted = r.chance(0.10);
                device_json(personnel_id * 10 + k, personnel_id, user_id, k, settings, deleted)
            })
            .collect()
    }
}

impl Simulator {
    /// v2's `/devices` listing: every listed person's devices in list order, then one
    /// device of a personnel record no longer listed (so joins must count, not invent).
    pub fn v2_devices_json(&self) -> Vec<Value> {
        self.v2_devices_page(0, usize::MAX).0
    }

    /// `size` devices of the listing from position `offset`, and how many there are in all.
    /// Only the people whose devices fall in the window are generated (each page of a
    /// 10,000-person listing used to generate every device first).
    pub fn v2_devices_page(&self, offset: usize, size: usize) -> (Vec<Value>, u64) {
        let all = {
            let r = self.roster();
            r.page(0, r.total())
        };
        let counts: Vec<u64> = all.iter().map(|i| self.gen.real_device_count(*i)).collect();
        let listed: u64 = counts.iter().sum();
        // The orphan device comes last, when anyone has a device.
        let total = if listed > 0 { listed + 1 } else { 0 };
        let end = offset.saturating_add(size).min(total as usize);
        let mut out = Vec::new();
        let mut at = 0usize;
        for (i, n) in all.iter().zip(&counts) {
            let n = *n as usize;
            if at + n > offset && at < end {
                let skip = offset.saturating_sub(at);
                out.extend(self.gen.real_devices(*i).into_iter().skip(skip).take(end - (at + skip)));
            }
            at += n;
            if at >= end {
                break;
            }
        }
        if listed > 0 && offset <= listed as usize && end as u64 == total {
            let gone = 9_000_000;
            out.push(device_json(ORPHAN_DEVICE_ID, gone, gone, 0, [true; 6], false));
        }
        (out, total)
    }
}

impl<T: Clone> Opt<T> {
    pub(crate) fn as_val_owned(&self) -> Option<T> {
        match self {
            Opt::Val(v) => Some(v.clone()),
            _ => None,
        }
    }
}

/// One control in the real API's terms: its position, code, name and owners (user ids).
pub(crate) struct RealControl {
    pub id: u64,
    pub code: String,
    pub name: String,
    pub owner_indices: Vec<u64>,
}

impl RealControl {
    /// What `real_fields` derives the control's documented fields from.
    pub(crate) fn key(&self) -> super::real_fields::ControlKey<'_> {
        super::real_fields::ControlKey {
            id: self.id,
            name: &self.name,
            code: &self.code,
            has_owner: !self.owner_indices.is_empty(),
        }
    }
}

impl Simulator {
    /// The controls, with owners as person indices. Every seventh control (from the 4th)
    /// has 13 owners, more than v2's inline ten.
    pub(crate) fn real_controls(&self) -> Vec<RealControl> {
        let personnel = self.cfg.personnel as u64;
        self.controls
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let mut owners: Vec<u64> =
                    c.owner_id.as_deref().and_then(|o| self.gen.index_of(o)).into_iter().collect();
                if k % 7 == 3 && personnel > 0 {
                    for j in 0..12u64 {
                        let i = (k as u64 * 31 + j * 17) % personnel;
                        if !owners.contains(&i) {
                            owners.push(i);
                        }
                    }
                }
                RealControl { id: k as u64 + 1, code: c.id.clone(), name: c.name.clone(), owner_indices: owners }
            })
            .collect()
    }

    /// A user as the compact card owners and `user` expansions use.
    pub(crate) fn user_compact(&self, index: u64) -> Value {
        let p = self.gen.real_person(index);
        json!({"id": p.user_id, "email": p.email, "firstName": p.first_name, "lastName": p.last_name,
               "createdAt": STAMP, "updatedAt": STAMP})
    }

    /// The person index behind a user id, if that person exists.
    pub(crate) fn index_of_user(&self, user_id: &str) -> Option<u64> {
        let n: u64 = user_id.parse().ok()?;
        let index = n.checked_sub(USER_ID_BASE)?;
        self.roster().exists(index).then_some(index)
    }

    /// A user's SEC_TRAINING documents (both dialects), by user id.
    pub fn real_documents_json(&self, user_id: &str) -> Option<Vec<Value>> {
        Some(self.gen.real_person(self.index_of_user(user_id)?).documents)
    }

    /// Every control as `(id, code, owners' user ids)`, in list order.
    pub fn real_controls_owners(&self) -> Vec<(u64, String, Vec<u64>)> {
        self.real_controls()
            .into_iter()
            .map(|c| (c.id, c.code, c.owner_indices.iter().map(|i| i + USER_ID_BASE).collect()))
            .collect()
    }
}

pub(crate) const TIMESTAMP: &str = STAMP;

#[cfg(test)]
mod tests {
    use super::super::{SimConfig, SimDialect, Simulator};

    #[test]
    fn device_pages_are_slices_of_the_whole_listing() {
        let sim = Simulator::new(SimConfig { dialect: SimDialect::V2, personnel: 57, ..SimConfig::default() });
        let whole = sim.v2_devices_json();
        let total = whole.len();
        assert!(total > 20, "{total}");
        for size in [1, 7, 50, 500] {
            let mut got = Vec::new();
            let mut offset = 0;
            loop {
                let (page, t) = sim.v2_devices_page(offset, size);
                assert_eq!(t as usize, total);
                if page.is_empty() {
                    break;
                }
                offset += page.len();
                got.extend(page);
            }
            assert_eq!(got, whole, "pages of {size}");
        }
        // The orphan device (a person nobody lists) comes last.
        assert_eq!(whole.last().unwrap()["id"], super::ORPHAN_DEVICE_ID);
        assert_eq!(sim.v2_devices_page(total, 10).0.len(), 0);
    }
}
