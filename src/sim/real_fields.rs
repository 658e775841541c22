//! The documented real-API fields the simulator sends beyond ids, names, statuses and
//! owners (issue 17): personnel and user details, v1's agent summary, background checks,
//! training documents and control details. Each is a pure function of ids and indices, so
//! a test can compute what a snapshot must hold from the rules below, not from the tool.
//!
//! Rules (`index` is the person's generator index, `user_id` = index + `USER_ID_BASE`,
//! a control's `id` its position + 1):
//! - personnel: `createdAt` is the start date at midnight (else `STAMP`), `updatedAt` is
//!   `STAMP`; `statusUpdatedAt` is `STATUS_SET_AT` when `index % 6 == 1`, else null;
//!   `notHumanReason` is null (nobody is out of scope).
//! - v1 agent: enabled when `index` is even (`manualUploadEnabled` the opposite); then
//!   `osVersion` = `OS_VERSIONS[index % 3]`, `serialNumber` = `SN` + 8-digit personnel id,
//!   and `data` = the agent's report (`agentVersion` `3.{index % 5}.0`, `screenLockTime`
//!   `[60, 300, 900][index % 3]`, `macAddress` from the personnel id, `lastcheckedAt` day
//!   `1 + index % 7` of January 2025 at 06:00 UTC, `createdAt`/`updatedAt` `STAMP`);
//!   otherwise all of them null.
//! - user: `roles` = [the role] plus `TECHGOV` when `index % 10 == 0`; `avatarUrl` when
//!   `index % 3 == 0`; `drataTermsAgreedAt` `STAMP` unless `index % 4 == 3`.
//! - background check `k` of a user: `type`/`source` by `(user_id + k) % 4`: CHECKR/CHECKR,
//!   KARMACHECK/KARMACHECK, MANUAL/null, HRIS_RIPPLING/RIPPLING_CHECKR. MANUAL has no
//!   `caseId`, a `url` to the uploaded file and the same `manuallyCheckUrl`; the others a
//!   `caseId` `case-{user_id}-{k}` and a provider `url`. A pending check of a user with
//!   `user_id % 5 == 0` is OUT_OF_SCOPE (`outOfScopeReason`, `outOfScopeAt`). CHECKR and
//!   KARMACHECK invited the person's email; HRIS_RIPPLING was `linkedAt` `LINKED_AT`.
//!   `reportData` is a JSON text for CHECKR, `{}` otherwise. `createdAt` is the check's
//!   date at midnight (else `STAMP`).
//! - SEC_TRAINING document `k`: `fileUrl` when `k` is even, else null.
//! - control: `question` when `id` is even, `activity` when `id % 3 == 0`, `rationale` when
//!   `id % 4 == 1`, `controlTemplateId` `1000 + id` when `id` is odd, `archivedAt`
//!   `ARCHIVED_AT` when `id % 9 == 5`; `frameworkTags` `FRAMEWORK_TAGS[id % 4]`, `topics`
//!   `TOPICS[id % 3]`; flags `hasEvidence` id % 4 != 0, `hasPolicy` id % 5 == 0 (v2 only),
//!   `hasOwner` = has owners, `isMonitored` even id, `isReady` id % 3 != 0, `hasTicket`
//!   id % 6 == 5.

use serde_json::{json, Map, Value};

/// The simulator's one fixed time stamp (`real` uses it too).
pub(crate) const STAMP: &str = "2025-01-01T00:00:00.000Z";

/// What the control rules need of a control.
pub(crate) struct ControlKey<'a> {
    pub id: u64,
    pub name: &'a str,
    pub code: &'a str,
    pub has_owner: bool,
}

pub(crate) const STATUS_SET_AT: &str = "2024-06-01T12:00:00.000Z";
pub(crate) const OS_VERSIONS: [&str; 3] = ["macOS 14.5", "Windows 11 23H2", "Ubuntu 22.04"];
pub(crate) const SCREEN_LOCK_SECONDS: [u64; 3] = [60, 300, 900];
pub(crate) const OUT_OF_SCOPE_AT: &str = "2024-09-01T00:00:00.000Z";
pub(crate) const LINKED_AT: &str = "2024-05-01T09:00:00.000Z";
pub(crate) const ARCHIVED_AT: &str = "2025-06-30T00:00:00.000Z";
pub(crate) const FRAMEWORK_TAGS: [&[&str]; 4] = [&["SOC_2"], &["SOC_2", "ISO27001"], &["HIPAA"], &[]];
pub(crate) const TOPICS: [&[&str]; 3] = [&["SECURITY"], &["AVAILABILITY", "CONFIDENTIALITY"], &[]];

fn midnight_or_stamp(date: Option<&str>) -> String {
    match date {
        Some(d) => format!("{}T00:00:00.000Z", d.get(..10).unwrap_or(d)),
        None => STAMP.to_string(),
    }
}

/// `statusUpdatedAt, notHumanReason, createdAt, updatedAt` of personnel `index` (v1 and v2).
pub(crate) fn personnel_fields(index: u64, start_date: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("statusUpdatedAt".into(), if index % 6 == 1 { json!(STATUS_SET_AT) } else { Value::Null });
    m.insert("notHumanReason".into(), Value::Null);
    m.insert("createdAt".into(), json!(midnight_or_stamp(start_date)));
    m.insert("updatedAt".into(), json!(STAMP));
    m
}

/// v1's agent summary of personnel `index` (`osVersion, serialNumber, agentEnabled,
/// manualUploadEnabled, data`).
pub(crate) fn v1_agent_fields(index: u64) -> Map<String, Value> {
    let personnel_id = index + 1;
    let agent = index % 2 == 0;
    let os = OS_VERSIONS[(index % 3) as usize];
    let serial = format!("SN{personnel_id:08}");
    let mut m = Map::new();
    m.insert("osVersion".into(), if agent { json!(os) } else { Value::Null });
    m.insert("serialNumber".into(), if agent { json!(serial) } else { Value::Null });
    m.insert("agentEnabled".into(), json!(agent));
    m.insert("manualUploadEnabled".into(), json!(!agent));
    let data = agent.then(|| {
        json!({
            "createdAt": STAMP, "updatedAt": STAMP, "osVersion": os, "serialNumber": serial,
            "screenLockTime": SCREEN_LOCK_SECONDS[(index % 3) as usize], "agentVersion": format!("3.{}.0", index % 5),
            "macAddress": format!("02:00:00:{:02x}:{:02x}:{:02x}", (personnel_id >> 16) & 0xff, (personnel_id >> 8) & 0xff, personnel_id & 0xff),
            "lastcheckedAt": format!("2025-01-{:02}T06:00:00.000Z", 1 + index % 7),
        })
    });
    m.insert("data".into(), data.unwrap_or(Value::Null));
    m
}

/// The user's platform roles.
pub(crate) fn roles(index: u64, role: &str) -> Vec<&str> {
    let mut r = vec![role];
    if index % 10 == 0 && role != "TECHGOV" {
        r.push("TECHGOV");
    }
    r
}

/// `avatarUrl, drataTermsAgreedAt` of user `user_id` (person `index`).
pub(crate) fn user_fields(index: u64, user_id: u64) -> Map<String, Value> {
    let mut m = Map::new();
    let avatar = (index % 3 == 0).then(|| format!("https://avatars.example/{user_id}.png"));
    m.insert("avatarUrl".into(), avatar.map_or(Value::Null, Value::String));
    m.insert("drataTermsAgreedAt".into(), if index % 4 == 3 { Value::Null } else { json!(STAMP) });
    m
}

/// Background check `k` of user `user_id` whose guide status mapped to `status` (OK, ISSUE,
/// PENDING), checked on `date`.
pub(crate) fn background_check(user_id: u64, k: u64, status: &str, date: Option<&str>, email: &str) -> Value {
    let (kind, source) = match (user_id + k) % 4 {
        0 => ("CHECKR", Some("CHECKR")),
        1 => ("KARMACHECK", Some("KARMACHECK")),
        2 => ("MANUAL", None),
        _ => ("HRIS_RIPPLING", Some("RIPPLING_CHECKR")),
    };
    let manual = kind == "MANUAL";
    let url = if manual {
        format!("https://files.example/bg/{user_id}-{k}.pdf")
    } else {
        format!("https://{}.example/cases/{user_id}-{k}", kind.to_ascii_lowercase())
    };
    let out_of_scope = status == "PENDING" && user_id % 5 == 0;
    json!({
        "id": user_id * 10 + k, "userId": user_id,
        "status": if out_of_scope { "OUT_OF_SCOPE" } else { status },
        "caseId": (!manual).then(|| format!("case-{user_id}-{k}")),
        "caseInvitationId": format!("inv-{user_id}-{k}"), "url": url,
        "manualCheckDate": date, "manuallyCheckUrl": manual.then_some(&url),
        "type": kind, "source": source,
        "reportData": if kind == "CHECKR" { r#"{"package":"tasker_standard","adjudication":null}"# } else { "{}" },
        "outOfScopeReason": out_of_scope.then_some("Screened by their agency"),
        "outOfScopeAt": out_of_scope.then_some(OUT_OF_SCOPE_AT),
        "invitationEmail": matches!(kind, "CHECKR" | "KARMACHECK").then_some(email),
        "linkedAt": (kind == "HRIS_RIPPLING").then_some(LINKED_AT),
        "createdAt": midnight_or_stamp(date), "updatedAt": STAMP,
    })
}

/// A SEC_TRAINING document's `fileUrl`.
pub(crate) fn document_file_url(id: u64, k: u64) -> Value {
    if k % 2 == 0 {
        json!(format!("https://files.example/docs/{id}.pdf"))
    } else {
        Value::Null
    }
}

/// A control's documented fields as v1 lists them (flags at the top level, no v2-only
/// fields).
pub(crate) fn v1_control(c: &ControlKey, workspace_id: u64) -> Value {
    let id = c.id;
    json!({
        "id": id, "name": c.name, "code": c.code, "description": format!("{} control", c.name),
        "slug": c.code.to_ascii_lowercase(), "workspaceId": workspace_id,
        "archivedAt": (id % 9 == 5).then_some(ARCHIVED_AT), "frameworkTags": FRAMEWORK_TAGS[(id % 4) as usize],
        "hasEvidence": id % 4 != 0, "hasOwner": c.has_owner, "isMonitored": id % 2 == 0,
        "isReady": id % 3 != 0, "hasTicket": id % 6 == 5, "frameworkRequirements": [],
        "topics": TOPICS[(id % 3) as usize],
    })
}

/// A control as v2 lists it, with the `flags`, `frameworkTags` and `topics` expansions when
/// asked for.
pub(crate) fn v2_control(c: &ControlKey, flags: bool, tags: bool, topics: bool) -> Value {
    let id = c.id;
    let mut v = json!({
        "id": id, "name": c.name, "code": c.code, "slug": c.code.to_ascii_lowercase(),
        "description": format!("{} control", c.name),
        "question": (id % 2 == 0).then(|| format!("Is {} in place?", c.name)),
        "activity": (id % 3 == 0).then_some("Review quarterly"),
        "archivedAt": (id % 9 == 5).then_some(ARCHIVED_AT),
        "rationale": (id % 4 == 1).then_some("Required by SOC 2 CC6.1"),
        "createdAt": STAMP, "updatedAt": STAMP,
        "controlTemplateId": (id % 2 == 1).then_some(1000 + id),
    });
    if flags {
        v["flags"] = json!({
            "hasEvidence": id % 4 != 0, "hasPolicy": id % 5 == 0, "isReady": id % 3 != 0,
            "hasTicket": id % 6 == 5, "hasOwner": c.has_owner, "isMonitored": id % 2 == 0,
        });
    }
    if tags {
        v["frameworkTags"] = json!(FRAMEWORK_TAGS[(id % 4) as usize]);
    }
    if topics {
        v["topics"] = json!(TOPICS[(id % 3) as usize]);
    }
    v
}
