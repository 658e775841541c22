//! The simulator's guide-dialect routes (`/public/personnel`, per-person `/training` and
//! `/background-checks`, `/public/controls`): the integration guide's flat records, paged
//! by `page`/`limit` with a `total`.
//!
//! Bodies are written straight into a byte buffer from the generator's records (no
//! intermediate `serde_json::Value` unless a test overlay applies), and the roster lock
//! is held only to pick the page's indices, so a 2-core box serving a million-person
//! workspace spends its time in hyper, not here.

use std::io::Write as _;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};

use super::person_gate::person_gate;
use super::respond::{bad_request, json_bytes, not_found, parse_paging};
use super::Simulator;

pub(crate) fn routes() -> Router<Arc<Simulator>> {
    Router::new()
        .route("/public/personnel", get(list_personnel))
        .route("/public/personnel/{id}", get(get_person))
        .route("/public/personnel/{id}/training", get(get_training))
        .route("/public/personnel/{id}/background-checks", get(get_background_checks))
        .route("/public/controls", get(list_controls))
}

/// Append one person's wire JSON to `buf`.
fn write_person(sim: &Simulator, buf: &mut Vec<u8>, index: u64, overrides: Option<&Map<String, Value>>) {
    let res = match overrides {
        None => serde_json::to_writer(&mut *buf, &sim.gen.person(index)),
        Some(ov) => serde_json::to_writer(&mut *buf, &sim.person_value(index, Some(ov))),
    };
    debug_assert!(res.is_ok());
}

fn page_tail(buf: &mut Vec<u8>, total: u64, page: u64, limit: u64) {
    let _ = write!(buf, "],\"total\":{total},\"page\":{page},\"limit\":{limit}}}");
}

async fn list_personnel(State(sim): State<Arc<Simulator>>, RawQuery(q): RawQuery) -> Response {
    let (page, limit) = match parse_paging(q.as_deref(), sim.max_limit()) {
        Ok(p) => p,
        Err(msg) => return bad_request(&msg),
    };
    let offset = (page - 1).saturating_mul(limit);
    if page >= 2 {
        sim.maybe_drift(offset);
    }
    let offset = sim.listing_offset(page, offset, limit);
    let (total, rows) = {
        let r = sim.roster();
        (r.total(), r.page_with_overrides(offset, limit))
    };
    let mut buf = Vec::with_capacity(64 + rows.len() * 640);
    buf.extend_from_slice(b"{\"data\":[");
    for (n, (index, ov)) in rows.iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        write_person(&sim, &mut buf, *index, ov.as_ref());
    }
    let reported = total.saturating_add_signed(sim.cfg.faults.total_skew);
    page_tail(&mut buf, reported, page, limit);
    json_bytes(StatusCode::OK, buf)
}

async fn list_controls(State(sim): State<Arc<Simulator>>, RawQuery(q): RawQuery) -> Response {
    let (page, limit) = match parse_paging(q.as_deref(), sim.max_limit()) {
        Ok(p) => p,
        Err(msg) => return bad_request(&msg),
    };
    let total = sim.controls.len() as u64;
    let offset = (page - 1).saturating_mul(limit).min(total) as usize;
    let end = (offset + limit as usize).min(total as usize);
    let mut buf = Vec::with_capacity(64 + (end - offset) * 160);
    buf.extend_from_slice(b"{\"data\":[");
    for (n, control) in sim.controls[offset..end].iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        let _ = serde_json::to_writer(&mut buf, control);
    }
    page_tail(&mut buf, total, page, limit);
    json_bytes(StatusCode::OK, buf)
}

const PERSON_NOT_FOUND: &str = "Personnel not found";

async fn get_person(State(sim): State<Arc<Simulator>>, Path(id): Path<String>) -> Response {
    let Some(index) = sim.gen.index_of(&id) else {
        return not_found(PERSON_NOT_FOUND);
    };
    let overrides = {
        let r = sim.roster();
        if !r.exists(index) {
            return not_found(PERSON_NOT_FOUND);
        }
        r.overrides(index).cloned()
    };
    let mut buf = Vec::with_capacity(700);
    write_person(&sim, &mut buf, index, overrides.as_ref());
    json_bytes(StatusCode::OK, buf)
}

/// The person behind a child endpoint, or the response their per-person fault dictates.
fn child_index(sim: &Simulator, id: &str) -> Result<u64, Box<Response>> {
    let index = sim.live_index(id).ok_or_else(|| Box::new(not_found(PERSON_NOT_FOUND)))?;
    person_gate(sim, index, PERSON_NOT_FOUND)?;
    Ok(index)
}

async fn get_training(State(sim): State<Arc<Simulator>>, Path(id): Path<String>) -> Response {
    let index = match child_index(&sim, &id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let mut buf = Vec::with_capacity(400);
    buf.extend_from_slice(b"{\"personnelId\":");
    let _ = serde_json::to_writer(&mut buf, &sim.gen.person_id(index));
    buf.extend_from_slice(b",\"trainings\":");
    let _ = serde_json::to_writer(&mut buf, &sim.gen.trainings(index));
    buf.push(b'}');
    json_bytes(StatusCode::OK, buf)
}

async fn get_background_checks(State(sim): State<Arc<Simulator>>, Path(id): Path<String>) -> Response {
    let index = match child_index(&sim, &id) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let mut buf = Vec::with_capacity(200);
    buf.extend_from_slice(b"{\"personnelId\":");
    let _ = serde_json::to_writer(&mut buf, &sim.gen.person_id(index));
    buf.extend_from_slice(b",\"backgroundChecks\":");
    let _ = serde_json::to_writer(&mut buf, &sim.gen.background_checks(index));
    buf.push(b'}');
    json_bytes(StatusCode::OK, buf)
}
