//! `drata-etl demo`: the embedded simulator on a free loopback port, the real pipeline
//! against it, and a report a newcomer can read: rows per table, compliance breakdown,
//! where the files are, and a DuckDB query to paste.

use crate::cli::resolve::{parse_base_url, parse_run_at, run_options, RunSetup};
use crate::cli::DemoArgs;
use crate::drata::ApiKey;
use crate::error::{EtlError, FailureKind};
use crate::run::progress::RunProgress;
use crate::run::{run, RunSummary};
use crate::sim::{ApiKeySpec, SimConfig, Simulator};
use crate::store::StoreOptions;
use std::fmt::Write;
use std::time::Duration;

pub async fn demo(args: &DemoArgs) -> Result<super::Outcome, EtlError> {
    demo_text(args).await.map(super::Outcome::done)
}

async fn demo_text(args: &DemoArgs) -> Result<String, EtlError> {
    use rand::Rng;
    let key = format!("demo-{}", hex::encode(rand::thread_rng().gen::<[u8; 12]>()));
    let cfg = SimConfig {
        personnel: args.personnel,
        seed: args.seed,
        latency: Duration::from_millis(args.latency_ms),
        keys: vec![ApiKeySpec { key: key.clone(), scopes: vec!["personnel:read".into(), "controls:read".into()] }],
        ..SimConfig::default()
    };
    let sim = Simulator::spawn(cfg, "127.0.0.1:0".parse().expect("loopback address")).await.map_err(|e| {
        EtlError::new(FailureKind::Unavailable, format!("cannot start the embedded simulator on loopback: {e}"))
    })?;
    let setup = RunSetup {
        base_url: parse_base_url(&sim.base_url())?,
        key: ApiKey::new(key),
        api: None,
        out: &args.out,
        store: StoreOptions { max_retries: args.tuning.max_retries, ..Default::default() },
        run_at: parse_run_at(None)?,
        workspace: None,
    };
    let opts = run_options(setup, &args.tuning)?;
    let result = run(opts, &RunProgress::new(), crate::signals::shutdown_signal()).await;
    let peak = sim.sim.stats().peak_in_flight;
    sim.shutdown().await;
    let summary = result?;
    Ok(render(&summary, peak))
}

fn render(s: &RunSummary, peak_in_flight: u64) -> String {
    let mut o = String::new();
    let people = s.listing.unique;
    let _ = writeln!(
        o,
        "drata-etl demo: snapshot {} of a simulated workspace ({} people) in {:.2}s\n  {} API requests, {} retries, at most {} in flight\n",
        s.snapshot_id, people, s.duration_secs, s.api.requests, s.api.retries, peak_in_flight
    );
    let _ = writeln!(o, "Rows per table:");
    for (table, rows) in &s.rows {
        let _ = writeln!(o, "  {table:<30} {rows:>9}");
    }
    let _ = writeln!(o, "\nCompliance status ({} active, {} inactive):", s.active, s.inactive);
    for (status, n) in &s.compliance_status {
        let pct = if people > 0 { 100.0 * *n as f64 / people as f64 } else { 0.0 };
        let _ = writeln!(o, "  {status:<30} {n:>9}  {pct:5.1}%");
    }
    let _ = writeln!(
        o,
        "\nFiles: {}/<table>/snapshot_date={}/snapshot_id={}/part-*.parquet",
        s.out, s.snapshot_date, s.snapshot_id
    );
    let _ = writeln!(o, "Manifest (the commit record): {}", s.manifest);
    let _ = writeln!(o, "\nQuery it with DuckDB:");
    let _ = writeln!(
        o,
        "  duckdb -c \"SELECT department, compliance_status, count(*) AS people FROM read_parquet('{}/personnel/**/*.parquet', hive_partitioning=true) WHERE is_active GROUP BY ALL ORDER BY ALL\"",
        s.out
    );
    o
}
