//! The simulator's real-v1 face (`/public/...` as in `reference/drata-real-api.md`): the
//! personnel list (limit capped at 50, `{data, page, limit, total, dataAll}`, numeric ids,
//! nested `user` with `identities` and `backgroundChecks`, `complianceChecks`, `devices`
//! with their compliance checks), the user's
//! documents (`{documents}`, no total), controls without owners and `/controls/{id}/owners`.
//! Its own serialisation (JSON values built here); faults, auth and counters come from the
//! shared gate in `server`.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::person_gate::person_gate;
use super::real::{TIMESTAMP, WORKSPACE_ID};
use super::real_fields;
use super::respond::{bad_request, json_value, not_found, parse_paging};
use super::Simulator;

/// v1 answers at most 50 per page.
pub(crate) const MAX_LIMIT: u64 = 50;

pub(crate) fn routes() -> Router<Arc<Simulator>> {
    Router::new()
        .route("/public/personnel", get(list_personnel))
        .route("/public/users/{id}/documents", get(documents))
        .route("/public/controls", get(list_controls))
        .route("/public/controls/{id}/owners", get(control_owners))
}

/// One v1 personnel record.
pub(crate) fn person_json(sim: &Simulator, index: u64) -> Value {
    let mut p = sim.gen.real_person(index);
    let devices = sim.gen.real_devices(index);
    // v1's compliance checks carry no `exclusion` (a v2 addition).
    for c in p.checks.iter_mut().filter_map(Value::as_object_mut) {
        c.remove("exclusion");
    }
    let mut v = json!({
        "id": p.personnel_id,
        "employmentStatus": p.employment_status,
        "startDate": p.start_date.as_deref().map(|d| d.get(..10).unwrap_or(d).to_string()),
        "separationDate": p.end_date.as_deref().map(|d| d.get(..10).unwrap_or(d).to_string()),
        "statusUpdatedAt": null,
        "notHumanReason": null,
        "osVersion": null,
        "serialNumber": null,
        "user": {
            "id": p.user_id, "email": p.email, "firstName": p.first_name, "lastName": p.last_name,
            "jobTitle": p.job_title, "avatarUrl": null, "drataTermsAgreedAt": TIMESTAMP,
            "roles": real_fields::roles(index, p.role), "identities": p.identities, "backgroundChecks": p.background_checks,
            "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP,
        },
        "complianceChecks": p.checks,
        "devicesCount": devices.len(),
        "devicesFailingComplianceCount": devices.iter().filter(|d| d["isDeviceCompliant"] != true).count(),
        "devices": devices,
        "agentEnabled": false,
        "manualUploadEnabled": true,
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    });
    // The documented details (`real_fields`) overwrite the placeholders above.
    let fields = real_fields::personnel_fields(index, p.start_date.as_deref());
    v.as_object_mut().expect("an object").extend(fields.into_iter().chain(real_fields::v1_agent_fields(index)));
    v["user"].as_object_mut().expect("an object").extend(real_fields::user_fields(index, p.user_id));
    v
}

fn paging(sim: &Simulator, q: Option<&str>) -> Result<(u64, u64), Response> {
    let cap = sim.max_limit().min(MAX_LIMIT);
    // v1's default page size is 20.
    let q = q.unwrap_or("");
    let with_default =
        if q.split('&').any(|kv| kv.starts_with("limit=")) { q.to_string() } else { format!("{q}&limit=20") };
    parse_paging(Some(&with_default), cap).map_err(|m| bad_request(&m))
}

async fn list_personnel(State(sim): State<Arc<Simulator>>, RawQuery(q): RawQuery) -> Response {
    let (page, limit) = match paging(&sim, q.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let offset = (page - 1).saturating_mul(limit);
    if page >= 2 {
        sim.maybe_drift(offset);
    }
    let offset = sim.listing_offset(page, offset, limit);
    let (total, rows) = {
        let r = sim.roster();
        (r.total(), r.page(offset, limit))
    };
    let data: Vec<Value> = rows.iter().map(|i| person_json(&sim, *i)).collect();
    let total = total.saturating_add_signed(sim.cfg.faults.total_skew);
    json_value(json!({"data": data, "page": page, "limit": limit, "total": total, "dataAll": {}}))
}

async fn documents(State(sim): State<Arc<Simulator>>, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let Some(index) = sim.index_of_user(&id) else { return not_found("User not found") };
    if let Err(r) = person_gate(&sim, index, "User not found") {
        return *r;
    }
    let (page, limit) = match paging(&sim, q.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let wanted = url::form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.into_owned());
    let docs: Vec<Value> = sim
        .gen
        .real_person(index)
        .documents
        .into_iter()
        .filter(|d| wanted.as_deref().is_none_or(|w| d["type"] == w))
        .skip(((page - 1) * limit) as usize)
        .take(limit as usize)
        .collect();
    json_value(json!({ "documents": docs }))
}

fn user_card(sim: &Simulator, index: u64) -> Value {
    let mut v = sim.user_compact(index);
    let p = sim.gen.real_person(index);
    v["jobTitle"] = p.job_title;
    v["avatarUrl"] = Value::Null;
    v["drataTermsAgreedAt"] = Value::String(TIMESTAMP.into());
    v
}

async fn list_controls(State(sim): State<Arc<Simulator>>, RawQuery(q): RawQuery) -> Response {
    let (page, limit) = match paging(&sim, q.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let all = sim.real_controls();
    let total = all.len() as u64;
    let data: Vec<Value> = all
        .iter()
        .skip(((page - 1) * limit) as usize)
        .take(limit as usize)
        .map(|c| real_fields::v1_control(&c.key(), WORKSPACE_ID))
        .collect();
    json_value(json!({"data": data, "page": page, "limit": limit, "total": total}))
}

async fn control_owners(State(sim): State<Arc<Simulator>>, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let (page, limit) = match paging(&sim, q.as_deref()) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(c) = sim.real_controls().into_iter().find(|c| c.id.to_string() == id) else {
        return not_found("Control not found");
    };
    let total = c.owner_indices.len() as u64;
    let data: Vec<Value> = c
        .owner_indices
        .iter()
        .skip(((page - 1) * limit) as usize)
        .take(limit as usize)
        .map(|i| user_card(&sim, *i))
        .collect();
    json_value(json!({"data": data, "page": page, "limit": limit, "total": total}))
}

impl Simulator {
    /// Current people in list order as v1 serves them (what a perfect v1 client extracts).
    pub fn v1_personnel_json(&self) -> Vec<Value> {
        let all = {
            let r = self.roster();
            r.page(0, r.total())
        };
        all.into_iter().map(|i| person_json(self, i)).collect()
    }
}
