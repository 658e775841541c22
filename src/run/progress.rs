//! Run progress: shared atomic counters the run bumps (people listed, people enriched,
//! failed, gone) and, once the run has a client, its request statistics read live.
//!
//! The run only bumps these; it never draws anything. The command that owns the terminal
//! (`commands::run`) polls `snapshot()` for its display, and the metrics file reports the
//! same snapshot for a failed run too (the summary exists only for a successful one).

use crate::extract::enrich::Enriched;
use crate::record::FetchStatus;
use crate::stats::ApiStats;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Counters {
    people_total_hint: AtomicU64,
    pages_expected: AtomicU64,
    listed: AtomicU64,
    listing_done: AtomicBool,
    enriched: AtomicU64,
    failed: AtomicU64,
    gone: AtomicU64,
    /// The run's client statistics, read live once the run has a client.
    api: Mutex<Option<ApiSource>>,
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters")
            .field("listed", &self.listed)
            .field("enriched", &self.enriched)
            .field("api", &self.api.lock().ok().and_then(|a| a.as_ref().map(|_| ApiSourceDebug)))
            .finish_non_exhaustive()
    }
}

/// Reads the run's client statistics (the client's own counters, so always current).
type ApiSource = Arc<dyn Fn() -> ApiStats + Send + Sync>;

/// `ApiSource` has no Debug of its own.
struct ApiSourceDebug;
impl std::fmt::Debug for ApiSourceDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<client statistics>")
    }
}

/// The live state of one run, shared by the run (which bumps it), the command's display and
/// the metrics file (which read it). Cheap to clone (one `Arc`).
#[derive(Debug, Clone, Default)]
pub struct RunProgress {
    counters: Arc<Counters>,
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgressSnapshot {
    pub listed: u64,
    pub listing_done: bool,
    pub enriched: u64,
    pub failed: u64,
    pub gone: u64,
    pub people_total_hint: u64,
    pub pages_expected: u64,
    /// The client's statistics (`None` before the run's client existed).
    pub api: Option<ApiStats>,
}

impl RunProgress {
    pub fn new() -> Self {
        RunProgress::default()
    }

    /// What the preflight learnt: the list's total and the pages a pass needs.
    pub fn preflight_done(&self, people_total: Option<u64>, expected_pages: Option<u64>) {
        let c = &self.counters;
        c.people_total_hint.store(people_total.unwrap_or(0), Relaxed);
        c.pages_expected.store(expected_pages.unwrap_or(0), Relaxed);
    }

    /// From now on, snapshots carry `source`'s statistics (the run's client).
    pub fn attach_api(&self, source: impl Fn() -> ApiStats + Send + Sync + 'static) {
        *self.counters.api.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(source));
    }

    /// Listing finished with `n` unique people.
    pub fn listed(&self, n: u64) {
        self.counters.listed.store(n, Relaxed);
        self.counters.listing_done.store(true, Relaxed);
    }

    /// One person enriched (whatever the outcome).
    pub fn enriched(&self, e: &Enriched) {
        let c = &self.counters;
        c.enriched.fetch_add(1, Relaxed);
        let p = &e.person;
        if p.any_fetch(FetchStatus::Failed) {
            c.failed.fetch_add(1, Relaxed);
        }
        if p.any_fetch(FetchStatus::Gone) {
            c.gone.fetch_add(1, Relaxed);
        }
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        let c = &self.counters;
        ProgressSnapshot {
            listed: c.listed.load(Relaxed),
            listing_done: c.listing_done.load(Relaxed),
            enriched: c.enriched.load(Relaxed),
            failed: c.failed.load(Relaxed),
            gone: c.gone.load(Relaxed),
            people_total_hint: c.people_total_hint.load(Relaxed),
            pages_expected: c.pages_expected.load(Relaxed),
            api: c.api.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|read| read()),
        }
    }
}
