//! `_manifest.json`: the record of one committed snapshot, and the commit point itself.
//!
//! It is written last; a snapshot without one was never committed. It never holds secrets:
//! the base URL is stored without credentials or query string.

use crate::stats::{ApiStats, EnrichmentStats, IncrementalStats, ListingStats};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// One data file of a committed snapshot; `path` is relative to the output root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    pub rows: u64,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub run_id: String,
    pub snapshot_id: String,
    pub snapshot_date: String,
    /// The `--workspace` label, when several workspaces share the output root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The logical run time (`--run-at`), which names the snapshot.
    pub run_at: String,
    pub started_at: String,
    pub finished_at: String,
    pub tool_version: String,
    pub api_dialect: String,
    pub base_url: String,
    pub tables: BTreeMap<String, TableEntry>,
    pub listing: ListingStats,
    pub enrichment: EnrichmentStats,
    /// Present for `--incremental` runs: what was reused and what fetched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<IncrementalStats>,
    pub api: ApiStats,
}

impl Manifest {
    pub fn rows(&self, table: &str) -> u64 {
        self.tables.get(table).map(|t| t.rows).unwrap_or(0)
    }
}
