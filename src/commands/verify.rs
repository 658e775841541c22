//! `drata-etl verify`: re-read committed snapshots and check each against its manifest
//! (every file present, same size, same sha256, same row count, the table's schema) with
//! `crate::load::verify`, plus what only shows across snapshots: manifests that no longer
//! parse or fail validation (`Manifest::parse`: exit 65 naming the field) and partition
//! folders without a manifest (glob readers would count them twice), and on a Delta root
//! (`--table-format delta`) that each table's Delta log holds exactly the manifest-listed
//! files (`crate::load::delta::log::check`).
//!
//! On an object store the manifests are mirrored and the chosen snapshots' files downloaded
//! into a temporary folder first (`crate::store::mirror`). Reads only, takes no lock. Exit 0 when everything checked is intact, 65 listing the
//! problems otherwise, 64 when there is nothing to check (wrong --out, unknown --snapshot).

use super::snapshots::{run_in_flight, scan, scope_label, workspace_arg, Snapshot};
use crate::cli::VerifyArgs;
use crate::error::{EtlError, FailureKind};
use crate::load::verify::verify_snapshot_report;
use crate::store::mirror::RootView;
use std::fmt::Write;

/// The report to print (stdout) and, when something is wrong, the error to exit with.
pub async fn verify(args: &VerifyArgs) -> Result<super::Outcome, EtlError> {
    let (report, problem) = verify_report(args).await?;
    Ok(super::Outcome::with_problem(report, problem))
}

/// The report to print, and the problem that makes it exit 65 if any.
async fn verify_report(args: &VerifyArgs) -> Result<(String, Option<EtlError>), EtlError> {
    let view = RootView::open(args.root.out.as_deref(), &args.root.store_options()).await?;
    let root = view.path();
    let only = workspace_arg(args.root.workspace.as_deref())?;
    let scan = scan(root)?;
    let scopes: Vec<Option<String>> = match &only {
        Some(w) => vec![Some(w.clone())],
        None => scan.scopes().into_iter().collect(),
    };
    let mut chosen: Vec<&Snapshot> = Vec::new();
    for scope in &scopes {
        let list = scan.of(scope.as_deref());
        match args.snapshot.as_str() {
            "latest" => chosen.extend(list.last()),
            "all" => chosen.extend(list),
            id => chosen.extend(list.into_iter().filter(|s| s.manifest.snapshot_id == id)),
        }
    }
    let unreadable: Vec<_> = scan
        .rejected
        .iter()
        .filter(|u| scopes.contains(&u.workspace))
        .filter(|u| matches!(args.snapshot.as_str(), "latest" | "all") || u.snapshot_id == args.snapshot)
        .collect();
    if chosen.is_empty() && unreadable.is_empty() {
        let known: Vec<String> = scan.snapshots.iter().rev().take(5).map(|s| s.manifest.snapshot_id.clone()).collect();
        let what = match args.snapshot.as_str() {
            "latest" | "all" => "no committed snapshots".to_string(),
            id => format!("no committed snapshot {id}"),
        };
        let scope = only.as_deref().map(|w| format!(" for workspace {w}")).unwrap_or_default();
        let hint = if known.is_empty() {
            "check --out (it is the --out given to `drata-etl run`)".to_string()
        } else {
            format!(
                "snapshots there include {}; `drata-etl list --out {}` shows them all",
                known.join(", "),
                view.label()
            )
        };
        return Err(EtlError::usage(format!("{what} under {}{scope}: {hint}", view.label())));
    }
    view.fetch(&chosen.iter().map(|s| &s.manifest).collect::<Vec<_>>()).await?;

    let mut out = String::new();
    let mut problems = 0usize;
    let mut bad_snapshots = 0usize;
    // Problems of the Delta logs alone: the data is intact, the logs are behind.
    #[cfg_attr(not(feature = "delta"), allow(unused_mut))]
    let mut delta_problems = 0usize;
    for s in &chosen {
        let m = &s.manifest;
        let verified = verify_snapshot_report(root, m);
        let found = verified.problems;
        let label = scope_label(s.workspace());
        if found.is_empty() {
            let tables = m.tables.len();
            // Files from an older version hold a leading prefix of today's columns: intact.
            let older = if verified.older_tables.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} written by an older version: today's columns up to the ones added since, which read as absent)",
                    verified.older_tables.join(", ")
                )
            };
            let _ = writeln!(
                out,
                "ok      {}  {label}: {tables} tables, {} files, {} rows; sizes, sha256, row counts and schemas match{older}",
                m.snapshot_id,
                s.files(),
                s.rows()
            );
        } else {
            bad_snapshots += 1;
            problems += found.len();
            let _ = writeln!(out, "FAILED  {}  {label}: {} problem(s)", m.snapshot_id, found.len());
            for p in found {
                let _ = writeln!(out, "          {}: {}", p.path, p.what);
            }
        }
    }
    for u in &unreadable {
        problems += 1;
        bad_snapshots += 1;
        let _ = writeln!(
            out,
            "FAILED  {}  {}: manifest {} rejected ({}); nothing it lists was read. Restore it from backup or remove its folder",
            u.snapshot_id,
            scope_label(u.workspace.as_deref()),
            view.display(&u.path),
            u.error
        );
    }
    // Partitions without a manifest: only meaningful while no run of that scope is mid-commit.
    for scope in &scopes {
        if run_in_flight(root, scope.as_deref()) {
            continue;
        }
        for o in scan.orphans(root, scope.as_deref()) {
            problems += 1;
            let _ = writeln!(
                out,
                "FAILED  {}  {}: partition folder {} has no manifest (an interrupted prune or a hand-made copy); glob readers see it, manifest readers do not. `drata-etl prune` removes it",
                o.snapshot_id,
                scope_label(scope.as_deref()),
                o.path.strip_prefix(root).unwrap_or(&o.path).display()
            );
        }
    }
    #[cfg(feature = "delta")]
    if crate::load::delta::log::any_log(&view.log_root()).await? {
        // The Delta logs follow the manifests: every listed file added as written, nothing
        // else (a crash between a manifest and its Delta commit leaves the log behind).
        let manifests: Vec<crate::load::Manifest> = scan.snapshots.iter().map(|s| s.manifest.clone()).collect();
        for scope in &scopes {
            if run_in_flight(root, scope.as_deref()) {
                continue;
            }
            let label = scope_label(scope.as_deref());
            let found = crate::load::delta::log::check(&view.log_root(), scope.as_deref(), &manifests).await?;
            if found.is_empty() {
                let _ = writeln!(out, "ok      Delta logs  {label}: every manifest-listed file added, none stale");
            } else {
                problems += found.len();
                delta_problems += found.len();
                let _ = writeln!(
                    out,
                    "FAILED  Delta logs  {label}: {} problem(s); the next `drata-etl run --table-format delta` of this scope brings the logs up to date",
                    found.len()
                );
                for p in found {
                    let _ = writeln!(out, "          {p}");
                }
            }
        }
    }
    if problems == 0 {
        let _ = writeln!(out, "verify: {} snapshot(s) under {} intact", chosen.len(), view.label());
        return Ok((out, None));
    }
    if delta_problems == problems {
        let err = EtlError::new(
            FailureKind::DataInvalid,
            format!(
                "verify: {problems} problem(s) under {}: every snapshot's files match its manifest, but the Delta logs do not list exactly those files (a run stopped between its manifest and its Delta commit). The next `drata-etl run --table-format delta` brings them up to date",
                view.label()
            ),
        );
        return Ok((out, Some(err)));
    }
    let err = EtlError::new(
        FailureKind::DataInvalid,
        format!(
            "verify: {problems} problem(s) under {} ({bad_snapshots} snapshot(s) damaged); the files no longer match their manifests. Rerun `drata-etl run` with the snapshot's --run-at to rewrite it, or restore the files from backup",
            view.label()
        ),
    );
    Ok((out, Some(err)))
}
