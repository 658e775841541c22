//! Shared helpers for end-to-end tests: start the simulator on 127.0.0.1:0, run the real
//! `drata-etl` binary against it, and read the committed Parquet back.
#![allow(dead_code)]

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Date32Type;
use drata_etl::sim::{ApiKeySpec, RunningSim, SimConfig, Simulator};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::{Path, PathBuf};
use std::process::Output;

pub const KEY: &str = "test-key-3f9a1c77e2";

pub fn sim_config(personnel: usize) -> SimConfig {
    SimConfig { personnel, seed: 7, keys: vec![ApiKeySpec::all_read(KEY)], ..SimConfig::default() }
}

pub async fn start(cfg: SimConfig) -> RunningSim {
    Simulator::spawn(cfg, "127.0.0.1:0".parse().unwrap()).await.expect("simulator binds on loopback")
}

/// The result of one binary invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The last stdout line, parsed: the summary contract.
    pub fn summary(&self) -> serde_json::Value {
        let last = self.stdout.lines().last().unwrap_or_else(|| panic!("no stdout; stderr: {}", self.stderr));
        serde_json::from_str(last).unwrap_or_else(|e| panic!("last stdout line is not JSON ({e}): {last}"))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn bin() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_drata-etl"));
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("DRATA_API_KEY", KEY).kill_on_drop(true);
    c
}

/// `drata-etl run` against `sim` into `out` with extra args.
pub async fn run_etl(sim: &RunningSim, out: &Path, extra: &[&str]) -> Run {
    let mut c = bin();
    c.arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(out).args(extra);
    c.output().await.expect("binary runs").into()
}

/// Every Parquet file under `dir`, recursively, sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// All batches of one table under an output root.
pub fn read_table(out: &Path, table: &str) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for f in parquet_files(&out.join(table)) {
        let file = std::fs::File::open(&f).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        for b in reader {
            batches.push(b.unwrap());
        }
    }
    batches
}

pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// A column rendered as strings (null as None), across batches.
pub fn col(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
        for i in 0..c.len() {
            if c.is_null(i) {
                out.push(None);
                continue;
            }
            let v = match c.data_type() {
                arrow::datatypes::DataType::Utf8 => c.as_string::<i32>().value(i).to_string(),
                arrow::datatypes::DataType::Int32 => {
                    c.as_primitive::<arrow::datatypes::Int32Type>().value(i).to_string()
                }
                arrow::datatypes::DataType::Boolean => c.as_boolean().value(i).to_string(),
                arrow::datatypes::DataType::Date32 => {
                    let d = c.as_primitive::<Date32Type>().value(i);
                    (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(d as i64))
                        .to_string()
                }
                // Timestamps, lists and anything else: Arrow's own rendering.
                _ => arrow::util::display::array_value_to_string(c, i).expect("displayable value"),
            };
            out.push(Some(v));
        }
    }
    out
}

/// A wire JSON field rendered like `col` does (dates reduced to their calendar date).
pub fn wire_str(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

pub fn wire_date(v: &serde_json::Value, key: &str) -> Option<String> {
    wire_str(v, key).map(|s| s.chars().take(10).collect())
}

/// Committed manifests (parsed) under an output root.
pub fn manifests(out: &Path) -> Vec<serde_json::Value> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(out.join("_snapshots")) {
        for e in rd {
            let p = e.unwrap().path().join("_manifest.json");
            if let Ok(b) = std::fs::read(&p) {
                v.push(serde_json::from_slice(&b).unwrap());
            }
        }
    }
    v
}

/// No staged or trashed files are left behind (empty folders are fine).
pub fn assert_no_leftovers(out: &Path) {
    for dir in ["_staging", "_trash"] {
        let mut stack = vec![out.join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            for e in rd {
                let p = e.unwrap().path();
                assert!(p.is_dir(), "leftover file {}", p.display());
                stack.push(p);
            }
        }
    }
}

/// Commit `files` (already written into `staging`) as a guide-dialect snapshot through the
/// library's own org derivation, manifest and commit protocol: how tests and generators
/// build committed snapshots without a run.
pub fn commit_staged(
    staging: drata_etl::load::Staging,
    key: &drata_etl::load::SnapshotKey,
    mut files: Vec<(drata_etl::load::Table, Vec<drata_etl::load::FileEntry>)>,
    run_id: &str,
    tool_version: &str,
) {
    use drata_etl::load::{Table, WriterOptions};
    files
        .push((Table::PersonnelOrg, drata_etl::load::org::derive(&staging, &files, WriterOptions::default()).unwrap()));
    commit_manifest(staging, key, files, run_id, tool_version);
}

/// `commit_staged` without the org derivation: `files` already hold every table.
pub fn commit_manifest(
    staging: drata_etl::load::Staging,
    key: &drata_etl::load::SnapshotKey,
    files: Vec<(drata_etl::load::Table, Vec<drata_etl::load::FileEntry>)>,
    run_id: &str,
    tool_version: &str,
) {
    use drata_etl::load::{manifest::TableEntry, Manifest};
    let tables: std::collections::BTreeMap<String, serde_json::Value> = files
        .into_iter()
        .map(|(t, f)| {
            let rows = f.iter().map(|f| f.rows).sum();
            (t.name().to_string(), serde_json::to_value(TableEntry { rows, files: f }).unwrap())
        })
        .collect();
    let run_at = key.run_at_rfc3339();
    let m: Manifest = serde_json::from_value(serde_json::json!({
        "format_version": 1, "run_id": run_id, "snapshot_id": key.id, "snapshot_date": key.date.to_string(),
        "run_at": run_at, "started_at": run_at, "finished_at": run_at, "tool_version": tool_version,
        "api_dialect": "guide", "base_url": "http://127.0.0.1", "tables": tables,
        "listing": serde_json::to_value(drata_etl::stats::ListingStats::default()).unwrap(),
        "enrichment": serde_json::to_value(drata_etl::stats::EnrichmentStats::default()).unwrap(),
        "api": serde_json::to_value(drata_etl::stats::ApiStats::default()).unwrap(),
    }))
    .unwrap();
    staging.commit(&m).unwrap();
}
