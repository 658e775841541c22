//! `drata-etl list`: the committed snapshots under an output root (every workspace, or one),
//! oldest first, with their row counts, files and size, as an aligned table or one JSON
//! array. Only manifests count: a folder without one was never committed. On a Delta root
//! (`--table-format delta`) it also names each table's Delta version, and in JSON, per
//! snapshot, the version that added it. Reads only.

use super::snapshots::{human_bytes, scan, workspace_arg, Snapshot};
use crate::cli::{ListArgs, OutputFormat};
use crate::error::EtlError;
use crate::load::layout::Table;
use crate::store::mirror::RootView;
use std::fmt::Write;

/// Per table (in `Table::ALL` order): its Delta log's current version and, per snapshot id,
/// the version that last added that snapshot's files. Empty when the root has no Delta log
/// (or the build no Delta).
type DeltaVersions = Vec<(&'static str, (Option<u64>, std::collections::BTreeMap<String, u64>))>;

#[cfg(feature = "delta")]
async fn delta_versions(view: &RootView, per_snapshot: bool) -> Result<DeltaVersions, EtlError> {
    let mut out = DeltaVersions::new();
    let root = view.log_root();
    if crate::load::delta::log::any_log(&root).await? {
        for t in Table::ALL {
            out.push((t.name(), crate::load::delta::log::versions_by_snapshot(&root, t, per_snapshot).await?));
        }
    }
    Ok(out)
}

#[cfg(not(feature = "delta"))]
async fn delta_versions(_view: &RootView, _per_snapshot: bool) -> Result<DeltaVersions, EtlError> {
    Ok(DeltaVersions::new())
}

fn json(view: &RootView, s: &Snapshot, delta: &DeltaVersions) -> serde_json::Value {
    let m = &s.manifest;
    let delta_versions: serde_json::Map<String, serde_json::Value> = delta
        .iter()
        .filter_map(|(t, (_, by_id))| by_id.get(&m.snapshot_id).map(|v| (t.to_string(), serde_json::Value::from(*v))))
        .collect();
    serde_json::json!({
        "delta_versions": if delta.is_empty() { serde_json::Value::Null } else { serde_json::Value::Object(delta_versions) },
        "workspace": m.workspace,
        "snapshot_id": m.snapshot_id,
        "snapshot_date": m.snapshot_date,
        "run_at": m.run_at,
        "finished_at": m.finished_at,
        "run_id": m.run_id,
        "rows": m.tables.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.rows))).collect::<serde_json::Map<_, _>>(),
        "files": s.files(),
        "bytes": s.bytes(),
        "people": m.listing.unique,
        "enrichment_failed": m.enrichment.failed,
        "enrichment_gone": m.enrichment.gone,
        "api_dialect": m.api_dialect,
        "manifest": view.display(&s.manifest_path),
    })
}

pub async fn list(args: &ListArgs) -> Result<super::Outcome, EtlError> {
    list_text(args).await.map(super::Outcome::done)
}

/// The text to print on stdout.
async fn list_text(args: &ListArgs) -> Result<String, EtlError> {
    let view = RootView::open(args.root.out.as_deref(), &args.root.store_options()).await?;
    let root = view.path();
    let only = workspace_arg(args.root.workspace.as_deref())?;
    let scan = scan(root)?;
    // The version that added each snapshot is in JSON only (it reads the whole history).
    let delta = delta_versions(&view, args.format == OutputFormat::Json).await?;
    let mut chosen: Vec<&Snapshot> =
        scan.snapshots.iter().filter(|s| only.is_none() || s.workspace() == only.as_deref()).collect();
    // Grouped by workspace; within one, the catalogue's order (the sort is stable).
    chosen.sort_by(|a, b| a.workspace().cmp(&b.workspace()));
    // A rejected manifest is not a snapshot: it is named (stderr, and below the table) but
    // not listed, and listing still succeeds; `verify` exits 65 on it.
    let rejected: Vec<_> =
        scan.rejected.iter().filter(|u| only.is_none() || u.workspace.as_deref() == only.as_deref()).collect();
    for u in &rejected {
        tracing::warn!(path = %view.display(&u.path), error = %u.error, "manifest rejected, not listed; `drata-etl verify` reports it");
    }
    if args.format == OutputFormat::Json {
        let v: Vec<serde_json::Value> = chosen.iter().map(|s| json(&view, s, &delta)).collect();
        return Ok(format!("{}\n", serde_json::Value::Array(v)));
    }
    let mut rejected_lines = String::new();
    for u in rejected {
        let _ = writeln!(rejected_lines, "rejected manifest {} (not listed): {}", view.display(&u.path), u.error);
    }
    if chosen.is_empty() {
        let scope = only.map(|w| format!(" for workspace {w}")).unwrap_or_default();
        return Ok(format!("no committed snapshots under {}{scope}\n{rejected_lines}", view.label()));
    }
    // One column per table, named after it, so new tables show without code here.
    let mut header: Vec<String> = ["WORKSPACE", "SNAPSHOT_ID", "RUN_AT"].iter().map(|s| s.to_string()).collect();
    header.extend(Table::ALL.iter().map(|t| t.name().to_uppercase()));
    header.extend(["FILES".to_string(), "SIZE".to_string()]);
    let mut rows: Vec<Vec<String>> = vec![header];
    for s in &chosen {
        let m = &s.manifest;
        let mut row = vec![m.workspace.clone().unwrap_or_else(|| "-".into()), m.snapshot_id.clone(), m.run_at.clone()];
        for t in Table::ALL {
            row.push(m.rows(t.name()).to_string());
        }
        row.push(s.files().to_string());
        row.push(human_bytes(s.bytes()));
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| if i >= 3 { format!("{c:>w$}", w = widths[i]) } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    let workspaces: std::collections::BTreeSet<_> = chosen.iter().map(|s| s.workspace()).collect();
    let total: u64 = chosen.iter().map(|s| s.bytes()).fold(0, u64::saturating_add);
    let _ = writeln!(
        out,
        "{} snapshot(s) in {} workspace scope(s), {}",
        chosen.len(),
        workspaces.len(),
        human_bytes(total)
    );
    if !delta.is_empty() {
        // Which Delta version a reader pinning "the latest" gets, per table.
        let versions: Vec<String> = delta
            .iter()
            .map(|(t, (v, _))| format!("{t} {}", v.map(|v| format!("v{v}")).unwrap_or_else(|| "-".into())))
            .collect();
        let _ = writeln!(out, "table format: delta (versions: {})", versions.join(", "));
    }
    out.push_str(&rejected_lines);
    Ok(out)
}
