//! Plain run statistics shared by the extract stages, the manifest and the summary line.
//!
//! Data only: no I/O, no knowledge of HTTP or Parquet.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What paging the personnel list saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListingStats {
    /// The `limit` the server echoed (may be below what was asked).
    pub page_limit: u64,
    /// Every distinct `total` the server reported, in the order first seen.
    pub totals_seen: Vec<u64>,
    /// How many complete passes over the list were made (1 unless `total` moved).
    pub passes: u32,
    /// Records dropped because their id had already been seen in the same pass.
    pub duplicates_dropped: u64,
    /// People in the snapshot (unique ids of the final pass).
    pub unique: u64,
    /// `none` (one stable pass), `resolved` (re-listed until two passes agreed) or
    /// `unresolved` (the bound on passes was hit while the list still moved).
    pub drift: String,
    /// `unique == last total`.
    pub matches_total: bool,
    /// People whose identity names a manager (`managerId`) that no listed person's
    /// identity in the same connection has: their `manager_id` stays null (real dialects).
    #[serde(default)]
    pub unresolved_managers: u64,
    /// Devices listed apart from the people (v2 `/devices`) whose `personnelId` is nobody
    /// listed (or absent): not written.
    #[serde(default)]
    pub unmatched_devices: u64,
}

/// How enrichment ended across all people.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnrichmentStats {
    pub people: u64,
    /// People whose child endpoints answered 404 (vanished after listing).
    pub gone: u64,
    /// People with at least one child fetch that failed after retries.
    pub failed: u64,
    pub training_rows: u64,
    pub background_check_rows: u64,
}

/// What the run asked of the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiStats {
    pub requests: u64,
    pub requests_by_endpoint: BTreeMap<String, u64>,
    pub responses_by_status: BTreeMap<String, u64>,
    pub retries: u64,
    pub rate_limited: u64,
    pub timeouts: u64,
    pub transport_errors: u64,
}

/// What an incremental run reused and what it fetched again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncrementalStats {
    /// The snapshot child rows were reused from (`None`: there was none usable).
    pub previous_snapshot: Option<String>,
    /// Why a previous snapshot was not used, when one existed.
    pub ignored_reason: Option<String>,
    /// People whose list record was unchanged and child data fresh: rows copied.
    pub reused: u64,
    /// People whose list record changed since the previous snapshot.
    pub changed: u64,
    /// People unchanged but whose child data was older than `--refresh-after`.
    pub stale: u64,
    /// People not in the previous snapshot (or without complete child data there).
    pub new: u64,
}
