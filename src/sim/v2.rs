//! The simulator's real-v2 face (`/public/v2/...`, shapes from
//! `reference/drata-openapi-v2.json`): cursor pages `{data, pagination: {cursor,
//! totalCount}}` (size 1..500, default 50, `totalCount` only when asked on the first page),
//! personnel with `expand[]=user|complianceChecks|reasonProvider`, users with
//! `expand[]=backgroundChecks|identities`, devices with `expand[]=complianceChecks|identifiers`
//! (every person's, in list order, plus one of a person no longer listed), the user's
//! documents, the user's assigned policies with `expand[]=policy|policyVersion`
//! (`policies`), workspaces, controls with
//! `expand[]=owners` (at most ten inline) and a control's full owner list. Its own
//! serialisation; faults, auth and counters come from the shared gate in `server`.
//! `SimConfig::v2_repeat_cursor` makes every page hand back the cursor it was given (a
//! server bug clients must not loop on); `Faults::cursor_echo` only the last page (what some
//! endpoints do). `tests/integration/openapi_contract.rs` validates what this
//! serves against the spec itself.

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
use super::respond::{bad_request, json_value, not_found};
use super::Simulator;

pub(crate) fn routes() -> Router<Arc<Simulator>> {
    Router::new()
        .route("/public/v2/personnel", get(list_personnel))
        .route("/public/v2/users", get(list_users))
        .route("/public/v2/users/{id}/documents", get(documents))
        .route("/public/v2/users/{id}/assigned-policies", get(assigned_policies))
        .route("/public/v2/workspaces", get(list_workspaces))
        .route("/public/v2/workspaces/{ws}/controls", get(list_controls))
        .route("/public/v2/workspaces/{ws}/controls/{id}/owners", get(control_owners))
        .route("/public/v2/devices", get(list_devices))
}

/// The parsed query of a v2 list call.
struct Query {
    offset: u64,
    size: u64,
    had_cursor: bool,
    total_count: bool,
    expand: Vec<String>,
    doc_type: Option<String>,
}

fn query(q: Option<&str>) -> Result<Query, Response> {
    let mut out = Query { offset: 0, size: 50, had_cursor: false, total_count: false, expand: vec![], doc_type: None };
    for (k, v) in url::form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "cursor" => {
                out.had_cursor = true;
                out.offset = v
                    .strip_prefix("off:")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| bad_request("cursor is not valid"))?;
            }
            "size" => match v.parse::<u64>() {
                Ok(n) if (1..=500).contains(&n) => out.size = n,
                _ => return Err(bad_request("size must not be greater than 500 and not less than 1")),
            },
            "includeTotalCount" => out.total_count = v == "true",
            "expand[]" => out.expand.push(v.into_owned()),
            "type" => out.doc_type = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(out)
}

impl Query {
    fn expands(&self, what: &str) -> bool {
        self.expand.iter().any(|e| e == what)
    }
}

/// A cursor page over `total` items, of which `data` is the slice at `q.offset`.
fn page(sim: &Simulator, q: &Query, data: Vec<Value>, total: u64) -> Response {
    let end = q.offset + data.len() as u64;
    // `v2_repeat_cursor`: every page hands back the cursor just received (a bug);
    // `cursor_echo`: only the last page does, instead of a null cursor.
    let echo = sim.cfg.v2_repeat_cursor || (sim.cfg.faults.cursor_echo && end >= total);
    let cursor = if echo && q.had_cursor {
        Some(format!("off:{}", q.offset))
    } else {
        (end < total).then(|| format!("off:{end}"))
    };
    let total_count = (q.total_count && !q.had_cursor).then_some(total);
    json_value(json!({"data": data, "pagination": {"cursor": cursor, "totalCount": total_count}}))
}

/// One v2 personnel record. `reasonProvider` is added by `list_personnel` only with
/// `expand[]=reasonProvider`, as the spec says (null: nobody is marked out of scope here).
pub(crate) fn person_json(sim: &Simulator, index: u64, user: bool, checks: bool) -> Value {
    let p = sim.gen.real_person(index);
    let mut v = json!({
        "id": p.personnel_id,
        "userId": p.user_id,
        "employmentStatus": p.employment_status,
        "notHumanReason": null,
        "startedAt": p.start_date.as_deref().map(|d| format!("{}T00:00:00.000Z", d.get(..10).unwrap_or(d))),
        "separatedAt": p.end_date.as_deref().map(|d| format!("{}T00:00:00.000Z", d.get(..10).unwrap_or(d))),
        "statusUpdatedAt": null,
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    });
    // The documented details (`real_fields`) overwrite the placeholders above.
    v.as_object_mut().expect("an object").extend(real_fields::personnel_fields(index, p.start_date.as_deref()));
    if user {
        v["user"] = sim.user_compact(index);
    }
    if checks {
        let mut cs = p.checks;
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            c.entry("exclusion").or_insert(Value::Null);
        }
        v["complianceChecks"] = Value::Array(cs);
    }
    v
}

async fn list_personnel(State(sim): State<Arc<Simulator>>, RawQuery(q): RawQuery) -> Response {
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if q.had_cursor {
        sim.maybe_drift(q.offset);
    }
    let (total, rows) = {
        let r = sim.roster();
        (r.total(), r.page(q.offset, q.size))
    };
    let (user, checks) = (q.expands("user"), q.expands("complianceChecks"));
    let reason = q.expands("reasonProvider");
    let data = rows
        .iter()
        .map(|i| {
            let mut v = person_json(&sim, *i, user, checks);
            if reason {
                v["reasonProvider"] = Value::Null;
            }
            v
        })
        .collect();
    page(&sim, &q, data, total)
}

async fn list_users(State(sim): State<Arc<Simulator>>, RawQuery(q): RawQuery) -> Response {
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let (total, rows) = {
        let r = sim.roster();
        (r.total(), r.page(q.offset, q.size))
    };
    let data = rows
        .iter()
        .map(|i| {
            let p = sim.gen.real_person(*i);
            let mut v = sim.user_compact(*i);
            v["jobTitle"] = p.job_title;
            v.as_object_mut().expect("an object").extend(real_fields::user_fields(*i, p.user_id));
            if q.expands("roles") {
                v["roles"] = json!(real_fields::roles(*i, p.role));
            }
            if q.expands("backgroundChecks") {
                v["backgroundChecks"] = Value::Array(p.background_checks);
            }
            if q.expands("identities") {
                v["identities"] = Value::Array(p.identities);
            }
            v
        })
        .collect();
    page(&sim, &q, data, total)
}

async fn list_devices(State(sim): State<Arc<Simulator>>, RawQuery(q): RawQuery) -> Response {
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let (page_of, total) = sim.v2_devices_page(q.offset as usize, q.size as usize);
    let (checks, identifiers) = (q.expands("complianceChecks"), q.expands("identifiers"));
    let data = page_of
        .into_iter()
        .map(|mut d| {
            if let Some(o) = d.as_object_mut() {
                if !checks {
                    o.remove("complianceChecks");
                    o.remove("isDeviceCompliant");
                }
                if !identifiers {
                    o.remove("identifiers");
                }
            }
            d
        })
        .collect();
    page(&sim, &q, data, total)
}

async fn documents(State(sim): State<Arc<Simulator>>, Path(id): Path<String>, RawQuery(q): RawQuery) -> Response {
    let Some(index) = sim.index_of_user(&id) else { return not_found("User not found") };
    if let Err(r) = person_gate(&sim, index, "User not found") {
        return *r;
    }
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let p = sim.gen.real_person(index);
    let all: Vec<Value> = p
        .documents
        .into_iter()
        .filter(|d| q.doc_type.as_deref().is_none_or(|t| d["type"] == t))
        .map(|mut d| {
            d["userId"] = json!(p.user_id);
            d
        })
        .collect();
    let total = all.len() as u64;
    let data = all.into_iter().skip(q.offset as usize).take(q.size as usize).collect();
    page(&sim, &q, data, total)
}

/// A user's assigned policy versions (`sim::policies`), paged like every v2 list.
async fn assigned_policies(
    State(sim): State<Arc<Simulator>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(index) = sim.index_of_user(&id) else { return not_found("User not found") };
    if let Err(r) = person_gate(&sim, index, "User not found") {
        return *r;
    }
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let all = sim.assigned_policies(index, q.expands("policy"), q.expands("policyVersion"));
    let total = all.len() as u64;
    let data = all.into_iter().skip(q.offset as usize).take(q.size as usize).collect();
    page(&sim, &q, data, total)
}

async fn list_workspaces(State(sim): State<Arc<Simulator>>, RawQuery(q): RawQuery) -> Response {
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let all = [json!({"id": WORKSPACE_ID, "primary": true, "name": "Acme Corp", "description": null,
        "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP, "howItWorks": null, "url": null, "logo": null})];
    let data = all.iter().skip(q.offset as usize).take(q.size as usize).cloned().collect();
    page(&sim, &q, data, all.len() as u64)
}

fn workspace_ok(ws: &str) -> bool {
    ws == WORKSPACE_ID.to_string()
}

async fn list_controls(State(sim): State<Arc<Simulator>>, Path(ws): Path<String>, RawQuery(q): RawQuery) -> Response {
    if !workspace_ok(&ws) {
        return not_found("Workspace not found");
    }
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let all = sim.real_controls();
    let total = all.len() as u64;
    let data = all
        .iter()
        .skip(q.offset as usize)
        .take(q.size as usize)
        .map(|c| {
            let mut v =
                real_fields::v2_control(&c.key(), q.expands("flags"), q.expands("frameworkTags"), q.expands("topics"));
            if q.expands("owners") {
                let inline: Vec<Value> = c.owner_indices.iter().take(10).map(|i| sim.user_compact(*i)).collect();
                v["owners"] = json!({"data": inline, "totalCount": c.owner_indices.len()});
            }
            v
        })
        .collect();
    page(&sim, &q, data, total)
}

async fn control_owners(
    State(sim): State<Arc<Simulator>>,
    Path((ws, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    if !workspace_ok(&ws) {
        return not_found("Workspace not found");
    }
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let Some(c) = sim.real_controls().into_iter().find(|c| c.id.to_string() == id) else {
        return not_found("Control not found");
    };
    let total = c.owner_indices.len() as u64;
    let data =
        c.owner_indices.iter().skip(q.offset as usize).take(q.size as usize).map(|i| sim.user_compact(*i)).collect();
    page(&sim, &q, data, total)
}

impl Simulator {
    /// Person `index`'s assigned policy versions (`sim::policies`).
    fn assigned_policies(&self, index: u64, policy: bool, version: bool) -> Vec<Value> {
        let active = self.gen.person(index).is_active;
        super::policies::assigned(index, index + super::real::USER_ID_BASE, active, policy, version)
    }

    /// A user's assigned policy versions with policy and version expanded, as v2 serves
    /// them; `None` when the user does not exist.
    pub fn v2_assigned_policies_json(&self, user_id: &str) -> Option<Vec<Value>> {
        Some(self.assigned_policies(self.index_of_user(user_id)?, true, true))
    }

    /// Current people in list order as v2 serves them with user and compliance checks expanded.
    pub fn v2_personnel_json(&self) -> Vec<Value> {
        let all = {
            let r = self.roster();
            r.page(0, r.total())
        };
        all.into_iter().map(|i| person_json(self, i, true, true)).collect()
    }
}
