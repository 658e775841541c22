//! Which committed snapshot(s) a command reads, and lazy Polars scans of exactly the files
//! their manifests list (never a glob of the table folders, which may hold a partition
//! whose commit has not finished).
//!
//! Which snapshots exist, their order and which is the latest are the catalogue's to say
//! (`crate::load::catalogue`); a rejected manifest there is exit 65. Several workspaces
//! may share an output root: with one workspace (or none) it is picked implicitly; with
//! several, `--workspace` must say which.

use super::polars_err;
use crate::error::EtlError;
use crate::load::catalogue::Catalogue;
use crate::load::{Manifest, Table};
use polars::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The committed snapshots of one workspace scope, oldest first.
#[derive(Debug, Clone)]
pub struct Snapshots {
    pub root: PathBuf,
    /// The root as the user named it (a folder or an object-store URL), for messages.
    pub label: String,
    pub workspace: Option<String>,
    pub manifests: Vec<Manifest>,
}

fn scope(w: Option<&str>) -> String {
    match w {
        Some(w) => format!("workspace {w}"),
        None => "(no workspace)".into(),
    }
}

impl Snapshots {
    /// Read the committed manifests under `root` for `workspace` (see the module docs).
    pub fn open(root: &Path, workspace: Option<&str>, label: &str) -> Result<Snapshots, EtlError> {
        // A manifest that fails validation is exit 65 (it names itself and the field).
        let catalogue = Catalogue::trusted(root, label)?;
        let scopes: BTreeSet<Option<String>> = catalogue.workspaces();
        let chosen = match workspace {
            Some(w) => Some(w.to_string()),
            None if scopes.len() > 1 => {
                let names: Vec<String> = scopes.iter().map(|s| scope(s.as_deref())).collect();
                return Err(EtlError::usage(format!(
                    "several workspaces share {label}: {}; pass --workspace to pick one",
                    names.join(", ")
                )));
            }
            None => scopes.into_iter().next().flatten(),
        };
        let manifests: Vec<Manifest> =
            catalogue.of(chosen.as_deref()).into_iter().map(|s| s.manifest.clone()).collect();
        if manifests.is_empty() {
            let whose = chosen.as_deref().map(|w| format!(" for workspace {w}")).unwrap_or_default();
            return Err(EtlError::usage(format!(
                "no committed snapshot under {label}{whose} yet: run `drata-etl run --out {label}` first (a snapshot counts once its _manifest.json is written)"
            )));
        }
        Ok(Snapshots { root: root.to_path_buf(), label: label.to_string(), workspace: chosen, manifests })
    }

    /// The last in the catalogue's order.
    pub fn latest(&self) -> &Manifest {
        self.manifests.last().expect("open() never returns an empty list")
    }

    /// `latest` or a snapshot id.
    pub fn get(&self, id: &str) -> Result<&Manifest, EtlError> {
        if id == "latest" {
            return Ok(self.latest());
        }
        self.position(id).map(|i| &self.manifests[i])
    }

    fn position(&self, id: &str) -> Result<usize, EtlError> {
        self.manifests.iter().position(|m| m.snapshot_id == id).ok_or_else(|| {
            let known: Vec<&str> = self.manifests.iter().rev().take(10).map(|m| m.snapshot_id.as_str()).collect();
            let more = self.manifests.len().saturating_sub(known.len());
            let more = if more > 0 { format!(" and {more} older") } else { String::new() };
            EtlError::usage(format!(
                "unknown snapshot id '{id}' under {} ({}); committed snapshots, newest first: {}{more}. `drata-etl list` shows them all",
                self.label,
                scope(self.workspace.as_deref()),
                known.join(", ")
            ))
        })
    }

    /// The pair a diff compares: both given; only `to` (its predecessor); only `from` (to
    /// the latest); neither (the two latest).
    pub fn pair(&self, from: Option<&str>, to: Option<&str>) -> Result<(&Manifest, &Manifest), EtlError> {
        let to_i = match to {
            Some(id) if id != "latest" => self.position(id)?,
            _ => self.manifests.len() - 1,
        };
        let from_i = match from {
            Some(id) => self.position(id)?,
            None if to_i == 0 => {
                return Err(EtlError::usage(format!(
                    "diff needs two committed snapshots; {} has only {} up to {} ({}). Run `drata-etl run` again later, or pass --from",
                    self.label,
                    to_i + 1,
                    self.manifests[to_i].snapshot_id,
                    scope(self.workspace.as_deref())
                )))
            }
            None => to_i - 1,
        };
        if from_i == to_i {
            return Err(EtlError::usage(format!(
                "--from and --to are the same snapshot ({}); pick two different ones",
                self.manifests[to_i].snapshot_id
            )));
        }
        Ok((&self.manifests[from_i], &self.manifests[to_i]))
    }
}

/// The absolute paths of one table's files as the manifest lists them, or `None` when the
/// manifest has no such table (a derived table added after the snapshot was taken).
pub fn table_files(root: &Path, m: &Manifest, table: Table) -> Option<Vec<PathBuf>> {
    m.tables.get(table.name()).map(|t| t.files.iter().map(|f| root.join(&f.path)).collect())
}

/// A lazy scan of `table` in snapshot `m`, projected to `columns`.
pub fn scan(root: &Path, m: &Manifest, table: Table, columns: &[&str]) -> Result<LazyFrame, EtlError> {
    let files = table_files(root, m, table).ok_or_else(|| {
        EtlError::new(
            crate::error::FailureKind::DataInvalid,
            format!("snapshot {} has no {} table in its manifest", m.snapshot_id, table.name()),
        )
    })?;
    scan_files(&files, columns).map_err(polars_err(&format!("reading {} of snapshot {}", table.name(), m.snapshot_id)))
}

/// A lazy scan of Parquet `files` projected to `columns`, with Hive inference off.
pub fn scan_files(files: &[PathBuf], columns: &[&str]) -> PolarsResult<LazyFrame> {
    let paths = files.iter().map(|p| PlRefPath::try_from_path(p)).collect::<PolarsResult<Vec<_>>>()?;
    let args = ScanArgsParquet { hive_options: HiveOptions::new_disabled(), glob: false, ..Default::default() };
    let lf = LazyFrame::scan_parquet_files(paths.into_iter().collect(), args)?;
    Ok(lf.select(columns.iter().map(|c| col(*c)).collect::<Vec<_>>()))
}
