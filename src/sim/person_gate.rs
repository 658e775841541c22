//! The person-fault gate of every dialect's per-person endpoints: a person the fault
//! configuration marks as vanished answers 404, a broken one always 503 (HTML, like a
//! failing gateway), everyone else passes. One place, so the three dialects fail alike.

use axum::http::StatusCode;
use axum::response::Response;

use super::faults::{self, PersonFault};
use super::respond::not_found;
use super::Simulator;

/// `Ok` when the person at `index` answers normally; otherwise the response their fault
/// dictates, with `not_found_message` as the 404's text (each dialect words it its own way).
pub(crate) fn person_gate(sim: &Simulator, index: u64, not_found_message: &str) -> Result<(), Box<Response>> {
    match faults::person_fault(&sim.cfg.faults, index) {
        None => Ok(()),
        Some(PersonFault::Vanished) => Err(Box::new(not_found(not_found_message))),
        Some(PersonFault::Broken) => {
            sim.counters.drift_event();
            Err(Box::new(faults::html_error(StatusCode::SERVICE_UNAVAILABLE)))
        }
    }
}
