//! `_manifest.json`: the record of one committed snapshot, and the commit point itself.
//!
//! It is written last; a snapshot without one was never committed. It never holds secrets:
//! the base URL is stored without credentials or query string.
//!
//! A manifest read back (from a local root, an object store, or a commit intent) is
//! untrusted input: whoever can write the output root can plant one. `Manifest::parse` is
//! the only way this crate reads one, and it admits only what this tool writes: a known
//! format, a snapshot id, date and workspace in the layout's formats, known table names,
//! and every file a `part-N.parquet` directly inside the partition folder its table,
//! workspace, date and id imply; a committed manifest must also lie where its own fields
//! place it. So no path taken from a manifest can leave the root or name another
//! snapshot's files.

use super::layout::{manifest_rel, partition_dir, validate_workspace, Table};
use crate::error::{EtlError, FailureKind};
use crate::stats::{ApiStats, EnrichmentStats, IncrementalStats, ListingStats};
use chrono::{NaiveDate, NaiveDateTime};
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

    /// Read a manifest from untrusted bytes. `from` names it in errors (a path or URL);
    /// `committed_at`, for a committed manifest, is where it was found relative to the root
    /// (`_snapshots/[workspace=W/]<id>/_manifest.json`, `/`-separated), which must be where
    /// its own `workspace` and `snapshot_id` place it. A commit intent passes `None`.
    pub fn parse(bytes: &[u8], from: &str, committed_at: Option<&str>) -> Result<Manifest, ManifestError> {
        let reject =
            |field: &str, reason: String| ManifestError { from: from.to_string(), field: field.to_string(), reason };
        let m: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| reject("(document)", format!("not a drata-etl manifest: {}", shown_text(&e.to_string()))))?;
        m.check().map_err(|(field, reason)| reject(&field, reason))?;
        if let Some(at) = committed_at {
            let want = manifest_rel(m.workspace.as_deref(), &m.snapshot_id).to_string_lossy().replace('\\', "/");
            if at != want {
                return Err(reject(
                    "snapshot_id",
                    format!("the manifest lies at {} but its workspace and snapshot_id place it at {want}", shown(at)),
                ));
            }
        }
        Ok(m)
    }

    /// The rules `parse` applies to the content; `Err((field, reason))` names the first
    /// violation. Public so code handed a `Manifest` can re-check before touching files.
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, reason: String| Err((field.to_string(), reason));
        if self.format_version != MANIFEST_FORMAT_VERSION {
            return bad(
                "format_version",
                format!(
                    "{} is not a format this version reads ({MANIFEST_FORMAT_VERSION}); read it with the drata-etl that wrote it",
                    self.format_version
                ),
            );
        }
        let Some(id_date) = snapshot_id_date(&self.snapshot_id) else {
            return bad(
                "snapshot_id",
                format!(
                    "{} is not a snapshot id (YYYYMMDDTHHMMSSZ or YYYYMMDDTHHMMSS_ffffffZ)",
                    shown(&self.snapshot_id)
                ),
            );
        };
        match NaiveDate::parse_from_str(&self.snapshot_date, "%Y-%m-%d") {
            Ok(d) if d.format("%Y-%m-%d").to_string() == self.snapshot_date && d == id_date => {}
            Ok(_) if self.snapshot_date.len() == 10 => {
                return bad(
                    "snapshot_date",
                    format!("{} is not the date of snapshot id {}", shown(&self.snapshot_date), self.snapshot_id),
                )
            }
            _ => return bad("snapshot_date", format!("{} is not a date (YYYY-MM-DD)", shown(&self.snapshot_date))),
        }
        if let Some(w) = &self.workspace {
            if validate_workspace(w).is_err() {
                return bad(
                    "workspace",
                    format!("{} is not a workspace label (1-64 letters, digits, '-' or '_')", shown(w)),
                );
            }
        }
        // The run id names staging and trash folders during a commit and its recovery.
        let run_id_ok = !self.run_id.is_empty()
            && self.run_id.len() <= 64
            && self.run_id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        if !run_id_ok {
            return bad(
                "run_id",
                format!("{} is not a run id (1-64 letters, digits, '-' or '_')", shown(&self.run_id)),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, entry) in &self.tables {
            let Some(table) = Table::from_name(name) else {
                return bad("tables", format!("{} is not a table this tool writes", shown(name)));
            };
            let dir = partition_dir(table, self.workspace.as_deref(), &self.snapshot_date, &self.snapshot_id)
                .to_string_lossy()
                .replace('\\', "/");
            for (i, f) in entry.files.iter().enumerate() {
                let field = format!("tables.{name}.files[{i}].path");
                if let Err(why) = check_relative(&f.path) {
                    return bad(&field, format!("{} {why}", shown(&f.path)));
                }
                let inside = f.path.strip_prefix(dir.as_str()).and_then(|r| r.strip_prefix('/'));
                match inside {
                    Some(file) if is_part_file_name(file) => {}
                    _ => {
                        return bad(
                            &field,
                            format!("{} is not a part-N.parquet file directly inside {dir}", shown(&f.path)),
                        )
                    }
                }
                if !seen.insert(f.path.as_str()) {
                    return bad(&field, format!("{} is listed twice", shown(&f.path)));
                }
                if f.sha256.len() != 64 || !f.sha256.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
                    return bad(
                        &format!("tables.{name}.files[{i}].sha256"),
                        format!("{} is not a lowercase hex sha256", shown(&f.sha256)),
                    );
                }
            }
        }
        Ok(())
    }
}

/// Why a manifest read back was refused: which one (`from`: its path or URL), which field,
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub from: String,
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "manifest {} rejected: {}: {}", self.from, self.field, self.reason)
    }
}

impl std::error::Error for ManifestError {}

impl ManifestError {
    /// Exit 65: the output root holds a manifest this tool did not write as it stands.
    pub fn into_error(self) -> EtlError {
        let e = self;
        EtlError::new(
            FailureKind::DataInvalid,
            format!(
                "{e}. It was not written by drata-etl or was altered since; nothing it names was read, written or deleted. Inspect it, then restore it from backup or remove its folder under _snapshots/"
            ),
        )
    }
}

/// Check a `/`-separated path read back from a manifest or listed by a store: relative,
/// and nothing that could leave the folder it is joined to. `Err` completes "<path> …".
pub fn check_relative(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.contains('\0') {
        return Err("contains a NUL character");
    }
    if path.contains('\\') {
        return Err("contains a backslash (paths are '/'-separated)");
    }
    if path.contains(':') {
        return Err("contains ':' (a drive letter or stream name)");
    }
    if path.starts_with('/') {
        return Err("is absolute (must be relative to the output root)");
    }
    for seg in path.split('/') {
        match seg {
            "" => return Err("has an empty segment"),
            "." => return Err("has a '.' segment"),
            ".." => return Err("has a '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

/// `part-N.parquet` with N decimal digits, or `part-N-<run>.parquet` with the run id in
/// lowercase hex (8 to 32 digits), as `layout::part_file_name` writes them.
fn is_part_file_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("part-").and_then(|r| r.strip_suffix(".parquet")) else { return false };
    let (n, tag) = match rest.split_once('-') {
        Some((n, tag)) => (n, Some(tag)),
        None => (rest, None),
    };
    let digits = (1..=12).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit());
    let tag_ok =
        tag.is_none_or(|t| (8..=32).contains(&t.len()) && t.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    digits && tag_ok
}

/// The UTC date of a snapshot id as `SnapshotKey::from_run_at` writes it, or `None` when
/// it is not one.
fn snapshot_id_date(id: &str) -> Option<NaiveDate> {
    let b = id.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = match b.len() {
        16 => b[15] == b'Z',
        23 => b[15] == b'_' && digits(16..22) && b[22] == b'Z',
        _ => false,
    };
    if !(shape && digits(0..8) && b[8] == b'T' && digits(9..15)) {
        return None;
    }
    NaiveDateTime::parse_from_str(&id[..15], "%Y%m%dT%H%M%S").ok().map(|t| t.date())
}

/// A value from a manifest as it may appear in a message: quoted, control characters
/// escaped, cut at 120 characters (a hostile manifest may hold megabytes).
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(120).collect();
    let more = if cut.len() < s.len() { "…" } else { "" };
    format!("{cut:?}{more}")
}

/// Free text (a JSON parser's message, which may quote the input) cut and escaped likewise.
fn shown_text(s: &str) -> String {
    let cut: String = s
        .chars()
        .take(300)
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect();
    if s.chars().count() > 300 {
        format!("{cut}…")
    } else {
        cut
    }
}

/// An empty manifest of one snapshot (no tables), for tests that need a valid record.
#[cfg(test)]
pub(crate) fn empty_for_tests(key: &super::layout::SnapshotKey, run_id: &str) -> Manifest {
    Manifest {
        format_version: MANIFEST_FORMAT_VERSION,
        run_id: run_id.into(),
        snapshot_id: key.id.clone(),
        snapshot_date: key.date.to_string(),
        workspace: key.workspace.clone(),
        run_at: key.run_at_rfc3339(),
        started_at: String::new(),
        finished_at: String::new(),
        tool_version: String::new(),
        api_dialect: "guide".into(),
        base_url: String::new(),
        tables: Default::default(),
        listing: Default::default(),
        enrichment: Default::default(),
        incremental: None,
        api: Default::default(),
    }
}

#[cfg(test)]
mod tests;
