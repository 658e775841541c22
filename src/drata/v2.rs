//! Drata's real public API v2 (`/public/v2/...`, `reference/drata-openapi-v2.json`): its
//! requests and cursor paging, and its personnel, user and control records mapped into
//! canonical records.
//!
//! v2 pages by cursor (`{data, pagination: {cursor, totalCount}}`, in a stable order; stop
//! at a null cursor or one that echoes the cursor sent, then judged by `totalCount`; fail on
//! one from further back: `walk::CursorGuard`), needs `expand[]` for the user and
//! compliance checks, keeps background checks and identities on *users* (one
//! `/v2/users?expand[]=backgroundChecks&expand[]=identities` listing, joined by `userId`:
//! no per-person calls; identities kept mapped, compactly), lists devices once
//! (`/v2/devices?expand[]=complianceChecks&expand[]=identifiers`, joined by `personnelId`;
//! both joins are held in memory, mapped, until the personnel list is read), and scopes
//! controls to workspaces (owners expanded,
//! at most 10 inline; the full list from `/controls/{id}/owners` when there are more).
//! Per person's user it lists the SEC_TRAINING documents and the assigned policies
//! (`/users/{id}/assigned-policies`, mapped by `policies`). The record shapes v2 shares with v1 (checks, identities, training rows) are mapped by
//! `real`. Liberal per record, strict per envelope (`wire`); knows neither the guide nor
//! v1, and nothing of Parquet.

use super::client::{DrataClient, Endpoint, Fetched};
use super::real::{
    background_check_from_wire, compliance_check_from_wire, control_details_from_wire, control_flags_from_wire,
    derive_from_checks, derive_from_identities, device_for, device_from_wire, external_id_from_identities, id_text,
    identities_from_wire, personnel_details_from_wire, user_details_from_wire,
};
use super::walk::CursorGuard;
use super::wire::{
    as_u64, listed_record, map_items, not_found_list, path_segment, shape_error, Child, CursorPage, Fields, Page,
};
use crate::error::EtlError;
use crate::record::{BackgroundCheck, Control, ControlDetails, Device, Identity, Person, PersonDetails};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use tokio::sync::OnceCell;

/// The spec's bounds on `size`.
pub const MAX_SIZE: u64 = 500;
/// Owners a control carries inline with `expand[]=owners`.
pub const INLINE_OWNERS: usize = 10;

/// Split `{data, pagination: {cursor, totalCount}}` into mapped items.
pub fn parse_cursor_page<T>(
    path: &str,
    body: Value,
    map: impl FnMut(Value) -> Option<T>,
) -> Result<CursorPage<T>, EtlError> {
    let Value::Object(mut obj) = body else {
        return Err(shape_error(path, "expected an object with data and pagination"));
    };
    let data = match obj.remove("data") {
        Some(Value::Array(a)) => a,
        _ => return Err(shape_error(path, "no data array")),
    };
    let Some(Value::Object(pagination)) = obj.remove("pagination") else {
        return Err(shape_error(path, "no pagination object"));
    };
    let cursor = match pagination.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(shape_error(path, "pagination.cursor is not a string")),
    };
    let (items, invalid) = map_items(data, map);
    let total = as_u64(pagination.get("totalCount"));
    Ok(CursorPage { rows: Page { items, invalid, total, limit: None, page: None }, cursor })
}

/// What the `/v2/users` listing contributes to a person: job title, background checks and
/// the external id (from `identities[]`, by `external_id_from_identities`). Every user is
/// held until the personnel list is joined, so only these compact fields are kept: the
/// checks already mapped (their unmapped fields as one JSON text), not the raw JSON.
#[derive(Debug, Clone, Default)]
pub struct UserInfo {
    pub job_title: Option<String>,
    /// Mapped with an empty `personnel_id`; the join fills it in.
    pub background_checks: Vec<BackgroundCheck>,
    pub external_id: Option<String>,
    /// The user's documented fields (roles, avatar, terms, created/updated).
    pub details: PersonDetails,
    /// The user's identities, mapped (empty `personnel_id`; the join fills it in).
    pub identities: Vec<Identity>,
}

/// The `/v2/devices` listing, grouped by the `personnelId` each device names (mapped, with
/// an empty `personnel_id` the join fills in), and the devices that named none.
#[derive(Debug, Default)]
pub struct DeviceJoin {
    pub by_personnel: HashMap<String, Vec<Device>>,
    pub without_personnel: u64,
}

/// What the v2 personnel mapping joins by id: users (by `userId`) and devices (by
/// personnel id).
#[derive(Debug, Default)]
pub struct Joins {
    pub users: HashMap<String, UserInfo>,
    pub devices: DeviceJoin,
}

/// Map one v2 personnel record; `joins` adds the user's title, background checks,
/// identities and external id, and the person's devices.
pub fn person_from_wire(v: Value, joins: &Joins) -> Option<Person> {
    let users = &joins.users;
    let (id, mut f) = listed_record(v)?;
    let mut p = Person { id, ..Person::default() };
    p.user_id = f.string("userId");
    p.employment_status = f.string("employmentStatus");
    p.start_date = f.date("startedAt");
    p.end_date = f.date("separatedAt");
    personnel_details_from_wire(&mut f, &mut p.details);
    if let Some(user) = f.object("user") {
        let mut u = Fields::new(user);
        let uid = u.string("id");
        if p.user_id.is_none() {
            p.user_id = uid;
        }
        p.details.user_created_at = u.timestamp("createdAt");
        p.details.user_updated_at = u.timestamp("updatedAt");
        p.email = u.string("email");
        p.first_name = u.string("firstName");
        p.last_name = u.string("lastName");
        if let Some(rest) = u.extra() {
            f.keep("user", serde_json::from_str(&rest).unwrap_or(Value::String(rest)));
        }
    }
    let checks = f.array("complianceChecks").unwrap_or_default();
    p.compliance_checks =
        checks.into_iter().enumerate().map(|(i, v)| compliance_check_from_wire(&p.id, i as i32, v)).collect();
    derive_from_checks(&mut p);
    let info = p.user_id.as_ref().and_then(|u| users.get(u));
    p.title = info.and_then(|i| i.job_title.clone());
    p.external_id = info.and_then(|i| i.external_id.clone());
    if let Some(u) = info.map(|i| &i.details) {
        let d = &mut p.details;
        d.roles.clone_from(&u.roles);
        d.avatar_url.clone_from(&u.avatar_url);
        d.drata_terms_agreed_at = u.drata_terms_agreed_at;
        d.user_entry_id.clone_from(&u.user_entry_id);
        d.user_created_at = d.user_created_at.or(u.user_created_at);
        d.user_updated_at = d.user_updated_at.or(u.user_updated_at);
    }
    p.listed_background_checks = Some(
        info.map(|i| i.background_checks.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|c| BackgroundCheck { personnel_id: p.id.clone(), ..c.clone() })
            .collect(),
    );
    p.identities = info
        .map(|i| i.identities.iter().map(|x| Identity { personnel_id: p.id.clone(), ..x.clone() }).collect())
        .unwrap_or_default();
    p.devices = joins
        .devices
        .by_personnel
        .get(&p.id)
        .map_or_else(Vec::new, |ds| ds.iter().map(|d| device_for(&p.id, d)).collect());
    derive_from_identities(&mut p);
    p.extra = f.extra();
    Some(p)
}

/// One `/v2/users?expand[]=backgroundChecks&expand[]=identities&expand[]=roles` item:
/// `(user id, info)`.
fn user_from_wire(v: Value) -> Option<(String, UserInfo)> {
    let (id, mut f) = listed_record(v)?;
    let mut details = PersonDetails::default();
    user_details_from_wire(&mut f, &mut details);
    details.user_created_at = f.timestamp("createdAt");
    details.user_updated_at = f.timestamp("updatedAt");
    let external_id = external_id_from_identities(f.map.get("identities"));
    let identities = identities_from_wire("", Some(&id), f.array("identities"));
    Some((
        id,
        UserInfo {
            identities,
            job_title: f.string("jobTitle"),
            background_checks: f
                .array("backgroundChecks")
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, v)| background_check_from_wire("", i as i32, v))
                .collect(),
            external_id,
            details,
        },
    ))
}

/// A v2 control (`expand[]=owners|flags|frameworkTags|topics`); `owners` is `{data: [...],
/// totalCount}`. Returns the control and whether its owner list is longer than what came
/// inline. `workspace_id` is the workspace it was listed under.
pub fn control_from_wire(v: Value, workspace_id: &str) -> Option<(Control, bool)> {
    let (id, mut f) = listed_record(v)?;
    let name = f.string("name");
    let mut details = ControlDetails { workspace_id: Some(workspace_id.to_string()), ..ControlDetails::default() };
    control_details_from_wire(&mut f, &mut details);
    f.nested("flags", |flags| control_flags_from_wire(flags, &mut details));
    let mut more = false;
    let mut owner_user_ids = Vec::new();
    if let Some(mut owners) = f.object("owners") {
        let data = match owners.remove("data") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        owner_user_ids = data.iter().filter_map(id_text).collect();
        let total = as_u64(owners.get("totalCount")).unwrap_or(0);
        more = total > data.len() as u64;
    }
    Some((Control { id, name, owner_user_ids, details, extra: f.extra(), ..Control::default() }, more))
}

/// The v2 operations.
pub struct V2Api<'a> {
    pub client: &'a DrataClient,
    /// The `/v2/users` and `/v2/devices` joins, loaded once on first use.
    joins: OnceCell<Joins>,
}

fn size_of(page_size: u64) -> String {
    page_size.clamp(1, MAX_SIZE).to_string()
}

/// A stable order for every listing the pipeline pages (`sort` is `createdAt|updatedAt`,
/// `sortDir` `ASC|DESC` on each of them in the spec: `/personnel`, `/users`, `/workspaces`,
/// `/workspaces/{workspaceId}/controls`, `.../controls/{controlId}/owners`,
/// `/users/{userId}/documents`, `/users/{userId}/assigned-policies`, `/devices`). Oldest
/// first: a record created while the list is read lands at the end, behind the cursor's
/// reader, instead of shifting the pages ahead.
const STABLE_ORDER: [(&str, &str); 2] = [("sort", "createdAt"), ("sortDir", "ASC")];

fn stable_order() -> impl Iterator<Item = (&'static str, String)> {
    STABLE_ORDER.iter().map(|(k, v)| (*k, v.to_string()))
}

impl<'a> V2Api<'a> {
    pub fn new(client: &'a DrataClient) -> Self {
        V2Api { client, joins: OnceCell::new() }
    }

    async fn get(&self, ep: Endpoint, path: &str, q: &[(&str, String)]) -> Result<Value, EtlError> {
        match self.client.get_json(ep, path, q).await? {
            Fetched::Json(v) => Ok(v),
            Fetched::NotFound => Err(not_found_list(path)),
        }
    }

    /// One personnel page, with user and compliance checks expanded and the users joined.
    /// `with_join: false` skips the `/v2/users` listing (for cheap probes).
    pub async fn personnel_page(
        &self,
        cursor: Option<&str>,
        page_size: u64,
        with_join: bool,
    ) -> Result<CursorPage<Person>, EtlError> {
        let empty = Joins::default();
        let joins = if with_join { self.joins.get_or_try_init(|| self.load_joins(page_size)).await? } else { &empty };
        let path = "/public/v2/personnel";
        let mut q = vec![
            ("size", size_of(page_size)),
            ("expand[]", "user".to_string()),
            ("expand[]", "complianceChecks".to_string()),
        ];
        q.extend(stable_order());
        match cursor {
            Some(c) => q.push(("cursor", c.to_string())),
            None => q.push(("includeTotalCount", "true".to_string())),
        }
        let body = self.get(Endpoint::PersonnelList, path, &q).await?;
        parse_cursor_page(path, body, |v| person_from_wire(v, joins))
    }

    /// The personnel list's current `totalCount` (one request of size 1), to tell whether
    /// the list changed while it was paged: cursors hide that, and `totalCount` comes only
    /// with a first page.
    pub async fn personnel_total(&self) -> Result<Option<u64>, EtlError> {
        let path = "/public/v2/personnel";
        let q = [("size", "1".to_string()), ("includeTotalCount", "true".to_string())];
        let body = self.get(Endpoint::PersonnelList, path, &q).await?;
        Ok(parse_cursor_page(path, body, |_| Some(()))?.rows.total)
    }

    /// Both joins of the personnel list: the users, then the devices.
    async fn load_joins(&self, page_size: u64) -> Result<Joins, EtlError> {
        let users = self.load_users(page_size).await?;
        let devices = self.load_devices(page_size).await?;
        Ok(Joins { users, devices })
    }

    /// Every device with its compliance checks (and identifiers), from ONE cursor listing
    /// of `/v2/devices` (no per-person calls), grouped by the `personnelId` each names.
    async fn load_devices(&self, page_size: u64) -> Result<DeviceJoin, EtlError> {
        let q = [
            ("size", size_of(page_size)),
            ("expand[]", "complianceChecks".to_string()),
            ("expand[]", "identifiers".to_string()),
        ];
        let mut join = DeviceJoin::default();
        let mut invalid = 0u64;
        let listed = self
            .all(Endpoint::Devices, "/public/v2/devices", &q, |v| {
                let (named, d) = device_from_wire("", v);
                if d.device_id.is_none() {
                    invalid += 1;
                    return None;
                }
                Some((named, d))
            })
            .await?;
        if invalid > 0 {
            tracing::warn!(count = invalid, "devices without an id were skipped");
        }
        for (named, d) in listed {
            match named {
                Some(p) => join.by_personnel.entry(p).or_default().push(d),
                None => join.without_personnel += 1,
            }
        }
        Ok(join)
    }

    /// Devices of the `/v2/devices` listing that belong to nobody `listed` (their
    /// `personnelId` is not a listed person, or absent): counted, never written.
    pub fn unmatched_devices(&self, listed: impl Fn(&str) -> bool) -> u64 {
        let Some(j) = self.joins.get() else { return 0 };
        let orphans = j.devices.by_personnel.iter().filter(|(p, _)| !listed(p)).map(|(_, d)| d.len() as u64);
        j.devices.without_personnel + orphans.sum::<u64>()
    }

    /// Every user's job title, background checks and external id, by user id.
    async fn load_users(&self, page_size: u64) -> Result<HashMap<String, UserInfo>, EtlError> {
        let path = "/public/v2/users";
        let mut out = HashMap::new();
        let (mut read, mut total) = (0u64, None);
        let mut guard = CursorGuard::default();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = vec![
                ("size", size_of(page_size)),
                ("expand[]", "backgroundChecks".to_string()),
                ("expand[]", "identities".to_string()),
                ("expand[]", "roles".to_string()),
            ];
            q.extend(stable_order());
            match &cursor {
                Some(c) => q.push(("cursor", c.clone())),
                None => q.push(("includeTotalCount", "true".to_string())),
            }
            let body = self.get(Endpoint::BackgroundChecks, path, &q).await?;
            guard.page(path, &body)?;
            let page = parse_cursor_page(path, body, user_from_wire)?;
            total = total.or(page.rows.total);
            read += page.rows.items.len() as u64 + page.rows.invalid;
            out.extend(page.rows.items);
            match guard.next(path, cursor.as_deref(), page.cursor)? {
                Some(c) => cursor = Some(c),
                None => {
                    guard.ended_short(path, read, total)?;
                    return Ok(out);
                }
            }
        }
    }

    /// Every item of a cursor listing, mapped; `None` when the path answers 404.
    async fn all_or_gone<T>(
        &self,
        ep: Endpoint,
        path: &str,
        base: &[(&'static str, String)],
        mut map: impl FnMut(Value) -> Option<T>,
    ) -> Result<Option<Vec<T>>, EtlError> {
        let mut out = Vec::new();
        let (mut read, mut total) = (0u64, None);
        let mut guard = CursorGuard::default();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = base.to_vec();
            q.extend(stable_order());
            match &cursor {
                Some(c) => q.push(("cursor", c.clone())),
                None => q.push(("includeTotalCount", "true".to_string())),
            }
            let body = match self.client.get_json(ep, path, &q).await? {
                Fetched::Json(v) => v,
                Fetched::NotFound => return Ok(None),
            };
            guard.page(path, &body)?;
            let page = parse_cursor_page(path, body, &mut map)?;
            total = total.or(page.rows.total);
            read += page.rows.items.len() as u64 + page.rows.invalid;
            out.extend(page.rows.items);
            match guard.next(path, cursor.as_deref(), page.cursor)? {
                Some(c) => cursor = Some(c),
                None => {
                    guard.ended_short(path, read, total)?;
                    return Ok(Some(out));
                }
            }
        }
    }

    /// Every item of a cursor listing, mapped; a 404 means the host is not the API.
    async fn all<T>(
        &self,
        ep: Endpoint,
        path: &str,
        base: &[(&'static str, String)],
        map: impl FnMut(Value) -> Option<T>,
    ) -> Result<Vec<T>, EtlError> {
        self.all_or_gone(ep, path, base, map).await?.ok_or_else(|| not_found_list(path))
    }

    /// Every control of every workspace, with every owner's user id. Returns the controls
    /// and how many items had no id.
    pub async fn controls(&self, page_size: u64) -> Result<(Vec<Control>, u64), EtlError> {
        let size = ("size", size_of(page_size));
        let workspaces = self
            .all(Endpoint::ControlsList, "/public/v2/workspaces", std::slice::from_ref(&size), |v| id_text(&v))
            .await?;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut invalid = 0u64;
        for ws in workspaces {
            let path = format!(
                "/public/v2/workspaces/{}/controls",
                path_segment("workspace", &ws, "/public/v2/workspaces/{id}/controls")?
            );
            let q = [
                size.clone(),
                ("expand[]", "owners".to_string()),
                ("expand[]", "flags".to_string()),
                ("expand[]", "frameworkTags".to_string()),
                ("expand[]", "topics".to_string()),
            ];
            let items = self.all(Endpoint::ControlsList, &path, &q, |v| Some(control_from_wire(v, &ws))).await?;
            let wanting: Vec<_> = items
                .into_iter()
                .filter_map(|x| {
                    if x.is_none() {
                        invalid += 1;
                    }
                    x
                })
                .filter(|(c, _)| seen.insert(c.id.clone()))
                .collect();
            let fetched = futures::future::try_join_all(wanting.into_iter().map(|(mut c, more)| {
                let ws = ws.clone();
                async move {
                    if more {
                        let route = "/public/v2/workspaces/{workspaceId}/controls/{id}/owners";
                        let path = format!(
                            "/public/v2/workspaces/{}/controls/{}/owners",
                            path_segment("workspace", &ws, route)?,
                            path_segment("control", &c.id, route)?
                        );
                        // A control deleted meanwhile keeps its inline owners.
                        let q = [("size", "50".to_string())];
                        if let Some(all) = self.all_or_gone(Endpoint::ControlsList, &path, &q, |v| id_text(&v)).await? {
                            c.owner_user_ids = all;
                        }
                    }
                    Ok::<_, EtlError>(c)
                }
            }))
            .await?;
            out.extend(fetched);
        }
        Ok((out, invalid))
    }

    /// The user's SEC_TRAINING documents (cursor pages).
    pub async fn training_documents(&self, user_id: &str) -> Result<Child<Value>, EtlError> {
        let path =
            format!("/public/v2/users/{}/documents", path_segment("user", user_id, "/public/v2/users/{id}/documents")?);
        let q = [("type", "SEC_TRAINING".to_string()), ("size", "50".to_string())];
        Ok(match self.all_or_gone(Endpoint::Training, &path, &q, Some).await? {
            Some(d) => Child::Rows(d),
            None => Child::Gone,
        })
    }

    /// The user's assigned policy versions, policy and version expanded inline (cursor
    /// pages, read whole or not at all, like every v2 child list); `Gone` on a 404.
    pub async fn assigned_policies(&self, user_id: &str) -> Result<Child<Value>, EtlError> {
        let route = "/public/v2/users/{id}/assigned-policies";
        let path = format!("/public/v2/users/{}/assigned-policies", path_segment("user", user_id, route)?);
        let q =
            [("size", "50".to_string()), ("expand[]", "policy".to_string()), ("expand[]", "policyVersion".to_string())];
        Ok(match self.all_or_gone(Endpoint::Policies, &path, &q, Some).await? {
            Some(items) => Child::Rows(items),
            None => Child::Gone,
        })
    }

    /// Proof the controls list is readable (one workspace page of size 1); v2 does not
    /// say how many controls there are.
    pub async fn probe_controls(&self) -> Result<Option<u64>, EtlError> {
        let path = "/public/v2/workspaces";
        let q = [("size", "1".to_string())];
        match self.client.get_json(Endpoint::ControlsList, path, &q).await? {
            Fetched::Json(v) => parse_cursor_page(path, v, Some).map(|_| None),
            Fetched::NotFound => Err(not_found_list(path)),
        }
    }

    /// Proof the devices listing is readable (one page of size 1), so a key without its
    /// permission fails the preflight instead of the run's listing.
    pub async fn probe_devices(&self) -> Result<(), EtlError> {
        let path = "/public/v2/devices";
        let q = [("size", "1".to_string())];
        match self.client.get_json(Endpoint::Devices, path, &q).await? {
            Fetched::Json(v) => parse_cursor_page(path, v, Some).map(|_| ()),
            Fetched::NotFound => Err(not_found_list(path)),
        }
    }
}

/// Is a `/public/v2/personnel` body the v2 envelope?
pub fn looks_like_v2(body: &Value) -> bool {
    body.get("data").is_some_and(Value::is_array) && body.get("pagination").is_some_and(Value::is_object)
}

/// The v2 personnel mapping without the users join (tests and property tests).
#[cfg(test)]
pub(crate) fn person_without_join(v: Value) -> Option<Person> {
    person_from_wire(v, &Joins::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FailureKind;
    use serde_json::json;

    #[test]
    fn v2_person_maps_and_joins_users() {
        let mut users = HashMap::new();
        users.insert(
            "7".to_string(),
            UserInfo {
                job_title: Some("Eng".into()),
                background_checks: vec![background_check_from_wire(
                    "",
                    0,
                    json!({"id": 3, "status": "OK", "type": "CHECKR", "userId": 7}),
                )],
                external_id: Some("00u7okta".into()),
                details: PersonDetails::default(),
                identities: Vec::new(),
            },
        );
        let users = Joins { users, ..Joins::default() };
        let p = person_from_wire(
            json!({"id": 42, "userId": 7, "employmentStatus": "FORMER_EMPLOYEE", "startedAt": "2023-02-01T00:00:00.000Z",
                   "separatedAt": null, "statusUpdatedAt": null,
                   "user": {"id": 7, "email": "ana@example.com", "firstName": "Ana", "lastName": "Lee", "createdAt": "x"},
                   "complianceChecks": [{"id": 900, "type": "FULL_COMPLIANCE", "status": "EXCLUDED",
                                         "exclusion": {"id": 1, "reason": "r"}}]}),
            &users,
        )
        .unwrap();
        assert_eq!((p.id.as_str(), p.user_id.as_deref()), ("42", Some("7")));
        assert_eq!(p.is_active, Some(false));
        assert_eq!(p.compliance_status.as_deref(), Some("EXCLUDED"));
        assert_eq!(p.title.as_deref(), Some("Eng"));
        assert_eq!(p.external_id.as_deref(), Some("00u7okta"));
        assert_eq!(p.start_date.unwrap().to_string(), "2023-02-01");
        let bg = &p.listed_background_checks.as_ref().unwrap()[0];
        assert_eq!((bg.personnel_id.as_str(), bg.ordinal, bg.status.as_deref()), ("42", 0, Some("OK")));
        let c = &p.compliance_checks[0];
        assert_eq!(
            (c.exclusion_id.as_deref(), c.exclusion_reason.as_deref(), c.extra.as_deref()),
            (Some("1"), Some("r"), None)
        );
        // The unparsable user createdAt stays in extra; the explicit null is just null.
        let extra: Value = serde_json::from_str(p.extra.as_deref().unwrap()).unwrap();
        assert_eq!(extra, json!({"user": {"createdAt": "x"}}));
        assert_eq!((p.details.status_updated_at, p.details.user_created_at), (None, None));
    }

    #[test]
    fn v2_documented_fields_are_typed_columns() {
        let ts = |s: &str| Some(crate::record::parse_lenient_timestamp(s).unwrap());
        let (uid, info) = user_from_wire(json!({
            "id": 7, "email": "a@example.com", "roles": ["ADMIN"], "avatarUrl": "https://a.example/7.png",
            "drataTermsAgreedAt": null, "createdAt": "2023-01-01T00:00:00.000Z", "updatedAt": "2023-01-02T00:00:00.000Z",
            "backgroundChecks": [{
                "id": 70, "userId": 7, "status": "OUT_OF_SCOPE", "caseId": null, "caseInvitationId": "inv-1",
                "url": "https://k.example/70", "manualCheckDate": "2024-01-02T15:00:00.000Z", "manuallyCheckUrl": "https://files.example/70.pdf",
                "type": "MANUAL", "source": null, "reportData": {"score": 1}, "outOfScopeReason": "Agency screened",
                "outOfScopeAt": "2024-02-01T00:00:00.000Z", "invitationEmail": "a@example.com", "linkedAt": "soon",
                "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-03T00:00:00.000Z"
            }]
        }))
        .unwrap();
        assert_eq!(uid, "7");
        let mut users = HashMap::new();
        users.insert(uid, info);
        let users = Joins { users, ..Default::default() };
        let p = person_from_wire(
            json!({"id": 42, "userId": 7, "employmentStatus": "CURRENT_EMPLOYEE", "startedAt": null,
                   "statusUpdatedAt": "2024-06-01T12:00:00.000Z", "notHumanReason": null,
                   "createdAt": "2023-01-05T08:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z",
                   "user": {"id": 7, "email": "a@example.com", "createdAt": "2023-01-01T00:00:00.000Z"},
                   "complianceChecks": [{"id": 900, "type": "BG_CHECK", "status": "EXCLUDED",
                       "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-02T00:00:00.000Z",
                       "exclusion": {"id": 1, "reason": "Hired before checks", "createdById": 100001, "createdByEmail": "admin@example.com",
                                     "createdAt": "2024-03-01T00:00:00.000Z", "startDate": "2024-03-01", "endDate": null, "note": "n"}}]}),
            &users,
        )
        .unwrap();
        let d = &p.details;
        assert_eq!((d.status_updated_at, d.not_human_reason.as_deref()), (ts("2024-06-01T12:00:00Z"), None));
        assert_eq!((d.created_at, d.updated_at), (ts("2023-01-05T08:00:00Z"), ts("2025-01-01T00:00:00Z")));
        assert_eq!(d.roles, Some(vec!["ADMIN".to_string()]));
        assert_eq!((d.avatar_url.as_deref(), d.drata_terms_agreed_at), (Some("https://a.example/7.png"), None));
        // The personnel's user expansion says when the user was created; the users listing fills the rest.
        assert_eq!((d.user_created_at, d.user_updated_at), (ts("2023-01-01T00:00:00Z"), ts("2023-01-02T00:00:00Z")));
        assert_eq!(p.extra, None);
        let c = &p.compliance_checks[0];
        assert_eq!((c.created_at, c.updated_at), (ts("2024-01-01T00:00:00Z"), ts("2024-01-02T00:00:00Z")));
        assert_eq!(
            (c.exclusion_created_by_id.as_deref(), c.exclusion_created_by_email.as_deref()),
            (Some("100001"), Some("admin@example.com"))
        );
        assert_eq!(
            (c.exclusion_created_at, c.exclusion_start_date, c.exclusion_end_date),
            (ts("2024-03-01T00:00:00Z"), ts("2024-03-01T00:00:00Z"), None)
        );
        assert_eq!(c.extra.as_deref(), Some(r#"{"exclusion":{"note":"n"}}"#));
        let b = &p.listed_background_checks.as_ref().unwrap()[0];
        assert_eq!(
            (b.id.as_deref(), b.user_id.as_deref(), b.status.as_deref()),
            (Some("70"), Some("7"), Some("OUT_OF_SCOPE"))
        );
        assert_eq!((b.check_type.as_deref(), b.source.as_deref(), b.case_id.as_deref()), (Some("MANUAL"), None, None));
        assert_eq!((b.case_invitation_id.as_deref(), b.url.as_deref()), (Some("inv-1"), Some("https://k.example/70")));
        // A date-time where a date is documented: its calendar date.
        assert_eq!(b.completed_at.unwrap().to_string(), "2024-01-02");
        assert_eq!(b.manually_check_url.as_deref(), Some("https://files.example/70.pdf"));
        assert_eq!(b.report_data.as_deref(), Some(r#"{"score":1}"#), "reportData of any shape, as JSON text");
        assert_eq!(
            (b.out_of_scope_reason.as_deref(), b.out_of_scope_at),
            (Some("Agency screened"), ts("2024-02-01T00:00:00Z"))
        );
        assert_eq!(b.invitation_email.as_deref(), Some("a@example.com"));
        assert_eq!((b.created_at, b.updated_at), (ts("2024-01-01T00:00:00Z"), ts("2024-01-03T00:00:00Z")));
        // A malformed timestamp is kept in extra, not a failed record.
        assert_eq!((b.linked_at, b.extra.as_deref()), (None, Some(r#"{"linkedAt":"soon"}"#)));
        // reportData as text stays verbatim.
        let b = background_check_from_wire("1", 0, json!({"reportData": "{}", "user": {"id": 9}}));
        assert_eq!((b.report_data.as_deref(), b.user_id.as_deref()), (Some("{}"), Some("9")));
    }

    #[test]
    fn v2_joins_identities_by_user_and_devices_by_personnel_id() {
        let (uid, info) = user_from_wire(json!({"id": 7, "identities": [
            {"identityId": "00u7", "isContractor": true, "jobTitle": "Eng", "connection": {"id": 1}}
        ]}))
        .unwrap();
        let mut joins = Joins::default();
        joins.users.insert(uid, info);
        let (named, d) = device_from_wire("", json!({"id": 11, "personnelId": 42, "complianceChecks": [{"id": 1}]}));
        joins.devices.by_personnel.insert(named.unwrap(), vec![d]);
        let (named, d) = device_from_wire("", json!({"id": 12, "personnelId": 99}));
        joins.devices.by_personnel.insert(named.unwrap(), vec![d]);
        joins.devices.without_personnel = 1;
        let p = person_from_wire(json!({"id": 42, "userId": 7, "employmentStatus": "UNKNOWN"}), &joins).unwrap();
        assert_eq!(p.identities.len(), 1);
        let i = &p.identities[0];
        assert_eq!(
            (i.personnel_id.as_str(), i.user_id.as_deref(), i.identity_id.as_deref()),
            ("42", Some("7"), Some("00u7"))
        );
        // Derived from the identities: the user has no title, the status says nothing.
        assert_eq!((p.title.as_deref(), p.employment_type.as_deref()), (Some("Eng"), Some("CONTRACTOR")));
        assert_eq!(p.devices.len(), 1);
        assert_eq!((p.devices[0].personnel_id.as_str(), p.devices[0].checks[0].personnel_id.as_str()), ("42", "42"));
        // A person without a user or devices gets none.
        let q = person_from_wire(json!({"id": 43}), &joins).unwrap();
        assert!(q.identities.is_empty() && q.devices.is_empty());
    }

    #[test]
    fn v2_users_carry_the_external_id() {
        let (id, info) = user_from_wire(json!({
            "id": 7, "email": "ana@example.com", "jobTitle": "Eng", "backgroundChecks": [{"id": 3}],
            "identities": [
                {"identityId": "google-7", "disconnectedAt": "2024-01-01T00:00:00.000Z",
                 "connection": {"clientType": "GOOGLE", "deletedAt": "2024-01-01T00:00:00.000Z"}},
                {"identityId": "00u7okta", "disconnectedAt": null,
                 "connection": {"clientType": "OKTA_IDENTITY", "deletedAt": null}}
            ]
        }))
        .unwrap();
        assert_eq!((id.as_str(), info.external_id.as_deref()), ("7", Some("00u7okta")));
        assert_eq!(info.background_checks.len(), 1);
        let (_, info) = user_from_wire(json!({"id": 8, "email": "b@example.com"})).unwrap();
        assert_eq!(info.external_id, None);
        // A person whose user is not in the listing has no external id.
        let p = person_from_wire(json!({"id": 1, "userId": 9}), &Joins::default()).unwrap();
        assert_eq!(p.external_id, None);
    }

    #[test]
    fn v2_envelope_is_strict_and_cursor_guarded() {
        let page = parse_cursor_page(
            "/p",
            json!({"data": [{"id": 1}, {}], "pagination": {"cursor": "abc", "totalCount": 2}}),
            person_without_join,
        )
        .unwrap();
        assert_eq!(
            (page.rows.items.len(), page.rows.invalid, page.cursor.as_deref(), page.rows.total),
            (1, 1, Some("abc"), Some(2))
        );
        let page =
            parse_cursor_page("/p", json!({"data": [], "pagination": {"cursor": null}}), person_without_join).unwrap();
        assert_eq!(page.cursor, None);
        for bad in [
            json!({"data": []}),
            json!({"data": {}, "pagination": {}}),
            json!({"data": [], "pagination": {"cursor": 5}}),
            json!([]),
        ] {
            assert_eq!(parse_cursor_page("/p", bad, person_without_join).unwrap_err().kind, FailureKind::DataInvalid);
        }
        let mut g = CursorGuard::default();
        assert_eq!(g.next("/p", None, Some("a".into())).unwrap().as_deref(), Some("a"));
        assert_eq!(g.next("/p", Some("a"), Some("b".into())).unwrap().as_deref(), Some("b"));
        // A cursor from further back loops: 65.
        assert!(g.next("/p", Some("b"), Some("a".into())).is_err());
        assert_eq!(g.next("/p", Some("b"), None).unwrap(), None);
        // No echo yet: a short list is not judged here.
        assert!(g.ended_short("/p", 3, Some(10)).is_ok());
        // The cursor just sent, handed back: the end of the list, judged by totalCount.
        assert_eq!(g.next("/p", Some("b"), Some("b".into())).unwrap(), None);
        assert!(g.ended_short("/p", 10, Some(10)).is_ok());
        assert!(g.ended_short("/p", 10, None).is_ok());
        let e = g.ended_short("/p", 9, Some(10)).unwrap_err();
        assert_eq!(e.kind, FailureKind::DataInvalid);
        assert!(e.message.contains("GET /p") && e.message.contains("9 of the 10"), "{}", e.message);
        assert!(looks_like_v2(&json!({"data": [], "pagination": {"cursor": null}})));
        assert!(!looks_like_v2(&json!({"data": [], "total": 0})));
    }

    #[test]
    fn v2_controls_flag_long_owner_lists() {
        let (c, more) = control_from_wire(
            json!({"id": 5, "name": "Access", "code": "DCF-5", "owners": {"data": [{"id": 1}, {"id": 2}], "totalCount": 12}}),
            "1",
        )
        .unwrap();
        assert!(more);
        assert_eq!(c.owner_user_ids, vec!["1", "2"]);
        assert_eq!(
            (c.details.code.as_deref(), c.details.workspace_id.as_deref(), c.extra.as_deref()),
            (Some("DCF-5"), Some("1"), None)
        );
        let (c, _) = control_from_wire(
            json!({"id": 7, "name": "Keys", "code": "DCF-7", "slug": null, "description": "Rotate keys", "question": "Are keys rotated?",
                   "activity": "Rotate yearly", "archivedAt": "2025-06-30T00:00:00.000Z", "rationale": "r", "controlTemplateId": 1007,
                   "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-02-01T00:00:00.000Z",
                   "frameworkTags": ["SOC_2"], "topics": [],
                   "flags": {"hasEvidence": true, "hasPolicy": false, "isReady": null, "hasTicket": true, "hasOwner": true, "isMonitored": false, "x": 1}}),
            "3",
        )
        .unwrap();
        let d = &c.details;
        assert_eq!(
            (d.slug.as_deref(), d.question.as_deref(), d.activity.as_deref()),
            (None, Some("Are keys rotated?"), Some("Rotate yearly"))
        );
        assert_eq!((d.rationale.as_deref(), d.control_template_id.as_deref()), (Some("r"), Some("1007")));
        assert_eq!(d.archived_at.unwrap().to_rfc3339(), "2025-06-30T00:00:00+00:00");
        assert_eq!((d.framework_tags.clone(), d.topics.clone()), (Some(vec!["SOC_2".into()]), Some(vec![])));
        assert_eq!(
            (d.has_evidence, d.has_policy, d.is_ready, d.has_ticket, d.has_owner, d.is_monitored),
            (Some(true), Some(false), None, Some(true), Some(true), Some(false))
        );
        assert_eq!(c.extra.as_deref(), Some(r#"{"flags":{"x":1}}"#));
        let (_, more) = control_from_wire(json!({"id": 6, "owners": {"data": [], "totalCount": 0}}), "1").unwrap();
        assert!(!more);
    }
}
