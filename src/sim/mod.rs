//! The embedded Drata API simulator: serves the "guide" dialect
//! (`reference/drata-guide-api.md`), or Drata's real v1/v2 (`SimConfig::dialect`; `real`,
//! `v1`, `v2`, from the same generated people) over HTTP with axum, for `drata-etl demo`,
//! `drata-etl simulate` (benchmarks) and every end-to-end test (bound on `127.0.0.1:0`).
//!
//! - `data`: records generated on the fly from `(seed, index)`; nothing stored per person.
//! - `roster`: list order, deletions, drift inserts and test overrides (a small overlay).
//! - `server`: routes, bearer-key auth with scopes, counters, the fault gate.
//! - `faults`: rate limiting, HTML errors, cut/truncated bodies, slowness, drift config.
//! - `policies`: v2's assigned policies per user (catalogue and who accepted what).
//!
//! The simulator owns its wire serialisation and shares no model types with the client
//! (`crate::drata`), so a bug in the client's models cannot hide behind the same bug here.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use drata_etl::sim::{SimConfig, Simulator};
//! let running = Simulator::spawn(
//!     SimConfig { personnel: 1_000, ..SimConfig::default() },
//!     "127.0.0.1:0".parse().unwrap(),
//! )
//! .await?;
//! println!("serving {}/public with key sim-key", running.base_url());
//! running.shutdown().await;
//! # Ok(()) }
//! ```

mod data;
mod faults;
mod guide;
mod person_gate;
mod policies;
mod real;
mod real_fields;
mod respond;
mod roster;
mod server;
mod v1;
mod v2;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde_json::{Map, Value};

pub use faults::{Drift, Faults, LimiterShape, PersonFault, RateLimit};
pub use server::RunningSim;

use data::{Control, Generator};
use faults::Limiter;
use roster::Roster;
use server::Counters;

/// The API key the default configuration accepts.
pub const DEFAULT_API_KEY: &str = "sim-key";
/// Scope needed for every `/public/personnel...` path.
pub const SCOPE_PERSONNEL_READ: &str = "personnel:read";
/// Scope needed for `/public/controls`.
pub const SCOPE_CONTROLS_READ: &str = "controls:read";
/// Scope needed for v2's `/public/v2/users/{id}/assigned-policies` (Drata's permission
/// `user-policies-get-user-policies`; named like the others here, so a client's message
/// naming the real permission cannot come from the simulator's own text).
pub const SCOPE_POLICIES_READ: &str = "policies:read";

/// How the simulated workspace looks and misbehaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Number of personnel records generated at start.
    pub personnel: usize,
    /// Number of controls (default 80).
    pub controls: usize,
    /// Data seed: the same seed and sizes give identical data.
    pub seed: u64,
    /// Added to every response.
    pub latency: Duration,
    /// Accepted keys (default: one key `sim-key` with all read scopes).
    pub keys: Vec<ApiKeySpec>,
    pub faults: Faults,
    /// The API dialect served (default: the guide's).
    pub dialect: SimDialect,
    /// v2 only: every page after the first hands back the cursor it was given.
    pub v2_repeat_cursor: bool,
    /// An account-level refusal on every API path (402 plan / 412 terms), any dialect.
    pub account_fault: Option<AccountFault>,
}

/// Which API dialect the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SimDialect {
    /// `reference/drata-guide-api.md`.
    #[default]
    Guide,
    /// Drata's real v1 (`/public/...`; `sim::v1`).
    V1,
    /// Drata's real v2 (`/public/v2/...`; `sim::v2`).
    V2,
}

/// Refusals Drata answers for the whole account, whatever the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountFault {
    /// 402: the plan does not include API access.
    PlanUpgradeRequired,
    /// 412: the Drata terms have not been accepted.
    TermsNotAccepted,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            personnel: 500,
            controls: 80,
            seed: 42,
            latency: Duration::ZERO,
            keys: vec![ApiKeySpec::all_read(DEFAULT_API_KEY)],
            faults: Faults::default(),
            dialect: SimDialect::Guide,
            v2_repeat_cursor: false,
            account_fault: None,
        }
    }
}

/// One API key and the scopes it carries. `Debug` does not show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySpec {
    pub key: String,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for ApiKeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeySpec").field("key", &"***").field("scopes", &self.scopes).finish()
    }
}

impl ApiKeySpec {
    pub fn new(key: impl Into<String>, scopes: &[&str]) -> Self {
        ApiKeySpec { key: key.into(), scopes: scopes.iter().map(|s| s.to_string()).collect() }
    }

    /// A key with every read scope (`personnel:read`, `controls:read`, `evidence:read`,
    /// `policies:read`).
    pub fn all_read(key: impl Into<String>) -> Self {
        Self::new(key, &[SCOPE_PERSONNEL_READ, SCOPE_CONTROLS_READ, "evidence:read", SCOPE_POLICIES_READ])
    }
}

/// Counters since start (or the last [`Simulator::reset_stats`]).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SimStats {
    pub requests_total: u64,
    /// Keys: `personnel_list`, `personnel_get`, `training`, `background_checks`,
    /// `controls_list`, `policies`, `other` (always all seven).
    pub requests_by_endpoint: BTreeMap<String, u64>,
    pub responses_by_status: BTreeMap<u16, u64>,
    /// Max concurrent requests being handled (arrival to response body fully produced,
    /// including the latency sleep).
    pub peak_in_flight: u64,
    pub rate_limited: u64,
    /// HTML errors, cut bodies, truncated bodies, slow responses and drift events.
    pub faults_injected: u64,
}

/// The simulator's shared state: configuration, generator, roster overlay and counters.
#[derive(Debug)]
pub struct Simulator {
    pub(crate) cfg: SimConfig,
    pub(crate) gen: Generator,
    pub(crate) roster: RwLock<Roster>,
    pub(crate) controls: Vec<Control>,
    pub(crate) keys: HashMap<String, HashSet<String>>,
    pub(crate) limiter: Option<Limiter>,
    pub(crate) counters: Counters,
    /// First-page personnel requests so far: which reading of the list a page belongs to,
    /// for `Faults::unstable_order`.
    pub(crate) list_passes: std::sync::atomic::AtomicU64,
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Arc<Simulator> {
        let base = cfg.personnel as u64;
        let gen = Generator::new(cfg.seed, base);
        let controls = gen.controls(cfg.controls, base);
        let mut keys: HashMap<String, HashSet<String>> = HashMap::new();
        for k in &cfg.keys {
            keys.entry(k.key.clone()).or_default().extend(k.scopes.iter().cloned());
        }
        let limiter = cfg.faults.rate_limit.map(|r| Limiter::new(r, cfg.faults.rate_shape));
        Arc::new(Simulator {
            gen,
            roster: RwLock::new(Roster::new(base)),
            controls,
            keys,
            limiter,
            counters: Counters::default(),
            list_passes: Default::default(),
            cfg,
        })
    }

    /// The configuration this simulator was built with.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    pub(crate) fn roster(&self) -> RwLockReadGuard<'_, Roster> {
        self.roster.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn roster_mut(&self) -> RwLockWriteGuard<'_, Roster> {
        self.roster.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The per-person child-endpoint fault of `id` (vanished: 404; broken: always 503).
    pub fn person_fault(&self, id: &str) -> Option<PersonFault> {
        faults::person_fault(&self.cfg.faults, self.live_index(id)?)
    }

    /// The live index behind `id`, if the person exists (created and not deleted).
    pub(crate) fn live_index(&self, id: &str) -> Option<u64> {
        let index = self.gen.index_of(id)?;
        self.roster().exists(index).then_some(index)
    }

    /// One person's wire JSON with the overlay applied.
    pub(crate) fn person_value(&self, index: u64, overrides: Option<&Map<String, Value>>) -> Value {
        let mut v = serde_json::to_value(self.gen.person(index)).unwrap_or(Value::Null);
        if let (Some(ov), Value::Object(m)) = (overrides, &mut v) {
            for (k, val) in ov {
                m.insert(k.clone(), val.clone());
            }
        }
        v
    }

    /// Current people in list order, in the simulator's own wire JSON: what a perfect
    /// client would extract.
    pub fn personnel_json(&self) -> Vec<Value> {
        let rows = {
            let r = self.roster();
            let total = r.total();
            r.page_with_overrides(0, total)
        };
        rows.iter().map(|(i, ov)| self.person_value(*i, ov.as_ref())).collect()
    }

    /// The `trainings` array for a person; `None` if unknown or deleted.
    pub fn training_json(&self, id: &str) -> Option<Vec<Value>> {
        let index = self.live_index(id)?;
        Some(self.gen.trainings(index).iter().map(|t| serde_json::to_value(t).unwrap_or(Value::Null)).collect())
    }

    /// The `backgroundChecks` array for a person; `None` if unknown or deleted.
    pub fn background_checks_json(&self, id: &str) -> Option<Vec<Value>> {
        let index = self.live_index(id)?;
        Some(self.gen.background_checks(index).iter().map(|b| serde_json::to_value(b).unwrap_or(Value::Null)).collect())
    }

    /// Every control in list order.
    pub fn controls_json(&self) -> Vec<Value> {
        self.controls.iter().map(|c| serde_json::to_value(c).unwrap_or(Value::Null)).collect()
    }

    /// Set one list-level field of a person (any JSON, including `null`, or a field the
    /// guide does not document). `id` cannot be changed. False if the person is unknown.
    pub fn set_person_field(&self, id: &str, field: &str, value: Value) -> bool {
        if field == "id" {
            return false;
        }
        match self.gen.index_of(id) {
            Some(index) => self.roster_mut().set_field(index, field, value),
            None => false,
        }
    }

    /// Delete a person: gone from the list, and its child endpoints answer 404.
    pub fn delete_person(&self, id: &str) -> bool {
        match self.gen.index_of(id) {
            Some(index) => self.roster_mut().delete(index),
            None => false,
        }
    }

    /// Create a new person at the end of the list; returns its id.
    pub fn add_person(&self) -> String {
        let index = self.roster_mut().push_back();
        self.gen.person_id(index)
    }

    /// The most records one page may hold (a `max_page_limit` fault caps it below 100).
    pub(crate) fn max_limit(&self) -> u64 {
        match self.cfg.faults.max_page_limit {
            Some(cap) => u64::from(cap.clamp(1, 100)),
            None => 100,
        }
    }

    /// Where a personnel page starts reading: `offset`, or with `Faults::unstable_order` a
    /// few places off it on pages 2 and later (never before the start).
    pub(crate) fn listing_offset(&self, page: u64, offset: u64, limit: u64) -> u64 {
        use std::sync::atomic::Ordering;
        if !self.cfg.faults.unstable_order {
            return offset;
        }
        if page == 1 {
            self.list_passes.fetch_add(1, Ordering::Relaxed);
            return offset;
        }
        let pass = self.list_passes.load(Ordering::Relaxed);
        offset.saturating_add_signed(faults::unstable_shift(self.cfg.faults.fault_seed, pass, page, limit))
    }

    /// On a personnel page request with page >= 2: insert people at the front and delete
    /// some already-listed ones behind the reader, until `max_events` have happened.
    pub(crate) fn maybe_drift(&self, offset: u64) {
        let Some(d) = self.cfg.faults.drift else {
            return;
        };
        let mut r = self.roster_mut();
        if r.drift_events >= d.max_events {
            return;
        }
        let event = r.drift_events as u64;
        r.drift_events += 1;
        let inserted = r.insert_front(d.inserts_per_page).len() as u64;
        // The reader has already seen positions [0, offset); after the inserts those
        // people sit at [inserted, inserted + offset).
        let mut seen = offset.min(r.total().saturating_sub(inserted));
        for k in 0..d.deletes_per_page as u64 {
            if seen == 0 {
                break;
            }
            let pos = inserted + faults::drift_draw(self.cfg.faults.fault_seed, event, k) % seen;
            if let Some(index) = r.at(pos) {
                r.delete(index);
                seen -= 1;
            }
        }
        drop(r);
        self.counters.drift_event();
    }

    /// Number of people the list endpoint currently reports as `total`.
    pub fn personnel_total(&self) -> u64 {
        self.roster().total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(n: usize) -> Arc<Simulator> {
        Simulator::new(SimConfig { personnel: n, ..SimConfig::default() })
    }

    #[test]
    fn json_views_are_deterministic() {
        let a = sim(300);
        let b = sim(300);
        assert_eq!(a.personnel_json(), b.personnel_json());
        assert_eq!(a.controls_json(), b.controls_json());
        let id = a.personnel_json()[7]["id"].as_str().unwrap().to_string();
        assert_eq!(a.training_json(&id), b.training_json(&id));
        assert_eq!(a.background_checks_json(&id), b.background_checks_json(&id));
        assert_eq!(a.controls_json().len(), 80);
    }

    #[test]
    fn mutators_are_reflected() {
        let s = sim(20);
        let people = s.personnel_json();
        let id = people[3]["id"].as_str().unwrap().to_string();
        assert!(s.set_person_field(&id, "email", Value::from("new@example.com")));
        assert!(s.set_person_field(&id, "location", Value::from("Oslo")));
        assert!(!s.set_person_field(&id, "id", Value::from("x")));
        let p = &s.personnel_json()[3];
        assert_eq!(p["email"], "new@example.com");
        assert_eq!(p["location"], "Oslo");
        // Field order of the documented fields is kept.
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "id");
        assert_eq!(keys[1], "email");

        assert!(s.delete_person(&id));
        assert!(!s.delete_person(&id));
        assert_eq!(s.personnel_json().len(), 19);
        assert!(s.training_json(&id).is_none());
        assert!(s.background_checks_json(&id).is_none());
        assert!(!s.set_person_field(&id, "email", Value::Null));

        let new_id = s.add_person();
        let all = s.personnel_json();
        assert_eq!(all.len(), 20);
        assert_eq!(all[19]["id"], new_id.as_str());
        assert_eq!(all[19]["complianceStatus"], "PENDING");
        assert!(s.training_json(&new_id).is_some());
        assert!(s.training_json("nope").is_none());
    }

    #[test]
    fn key_spec_debug_hides_the_key() {
        let shown = format!("{:?}", ApiKeySpec::all_read("sim-secret-4711"));
        assert!(!shown.contains("4711") && !shown.contains("secret"), "{shown}");
        assert!(shown.contains("personnel:read"), "{shown}");
    }
}
