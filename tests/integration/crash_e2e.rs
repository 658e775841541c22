//! Crash safety: SIGKILL at random moments, at least 20 times, never leaves a snapshot
//! that looks committed but is not, never damages an earlier snapshot, and the next run
//! succeeds. SIGKILL inside the window after the commit intent (held open by the test-only
//! pause `DRATA_ETL_TEST_PAUSE_AFTER_INTENT_MS`), 20 times: each is rolled forward by the
//! next run. Also: the API key never appears in any output, at the most verbose log level.

use crate::common::*;
use drata_etl::load::catalogue::committed_manifests;
use drata_etl::load::verify::verify_snapshot;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// Every manifest matches its files exactly; every visible data file is a complete Parquet
/// file. Returns the committed snapshot ids.
fn check_consistent(out: &Path) -> BTreeSet<String> {
    let manifests = committed_manifests(out).unwrap();
    for m in &manifests {
        let problems = verify_snapshot(out, m);
        assert!(problems.is_empty(), "snapshot {} damaged: {problems:?}", m.snapshot_id);
    }
    for f in parquet_files(out) {
        if f.starts_with(out.join("_staging")) || f.starts_with(out.join("_trash")) {
            continue;
        }
        let file = std::fs::File::open(&f).unwrap();
        assert!(
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).is_ok(),
            "visible file {} is not a complete Parquet file",
            f.display()
        );
    }
    manifests.into_iter().map(|m| m.snapshot_id).collect()
}

/// Every visible data file belongs to a committed manifest.
fn assert_all_visible_files_committed(out: &Path) {
    let listed: BTreeSet<_> = committed_manifests(out)
        .unwrap()
        .iter()
        .flat_map(|m| m.tables.values().flat_map(|t| t.files.iter().map(|f| out.join(&f.path))))
        .collect();
    for f in parquet_files(out) {
        if !f.starts_with(out.join("_staging")) {
            assert!(listed.contains(&f), "{} is visible but not in any manifest", f.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_never_leaves_a_half_commit() {
    let mut cfg = sim_config(250);
    cfg.latency = Duration::from_millis(3);
    let sim = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();

    // An earlier committed snapshot that must survive everything below.
    let base = run_etl(&sim, out, &["--run-at", "2026-03-01T00:00:00Z"]).await;
    assert_eq!(base.code, 0, "{}", base.stderr);
    let base_manifest = committed_manifests(out).unwrap()[0].clone();

    // How long an uninterrupted run takes, to spread kill points across it.
    let t = std::time::Instant::now();
    assert_eq!(run_etl(&sim, out, &["--run-at", "2026-03-01T01:00:00Z", "--concurrency", "4"]).await.code, 0);
    let full = t.elapsed();

    let mut rng = rand::rngs::StdRng::seed_from_u64(20260301);
    for i in 0..24 {
        // Alternate between a new snapshot and replacing an existing one.
        let run_at =
            if i % 2 == 0 { "2026-03-01T01:00:00Z".to_string() } else { format!("2026-03-02T{:02}:00:00Z", i) };
        let mut c = bin();
        c.arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(out).args([
            "--run-at",
            &run_at,
            "--concurrency",
            "4",
        ]);
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        let delay = full.mul_f64(rng.gen_range(0.0..1.1));
        tokio::time::sleep(delay).await;
        child.start_kill().unwrap();
        let _ = child.wait().await;

        let committed = check_consistent(out);
        assert!(committed.contains(&base_manifest.snapshot_id), "iteration {i}: earlier snapshot lost");
    }
    // The earlier snapshot is byte-for-byte what it was.
    let now =
        committed_manifests(out).unwrap().into_iter().find(|m| m.snapshot_id == base_manifest.snapshot_id).unwrap();
    assert_eq!(now.tables, base_manifest.tables);

    // The next run cleans up and succeeds; then everything visible is committed.
    let r = run_etl(&sim, out, &["--run-at", "2026-03-03T00:00:00Z"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    check_consistent(out);
    assert_all_visible_files_committed(out);
    assert_no_leftovers(out);
    sim.shutdown().await;
}

/// The staging folder holding a commit intent, other than `not`: (snapshot id, run id).
fn intent_in_window(out: &Path, not: Option<&(String, String)>) -> Option<(String, String)> {
    for e in std::fs::read_dir(out.join("_staging/_default")).ok()? {
        let dir = e.ok()?.path();
        let name = dir.file_name()?.to_string_lossy().into_owned();
        let (snapshot, run) = name.split_once('.')?;
        let found = (snapshot.to_string(), run.to_string());
        if dir.join("_commit.json").is_file() && not != Some(&found) {
            return Some(found);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_the_commit_intent_is_rolled_forward_by_the_next_run() {
    let sim = start(sim_config(40)).await;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    // (snapshot id, run id) of each run killed inside the window.
    let mut killed: Vec<(String, String)> = Vec::new();
    for i in 0..=20 {
        // Mostly new snapshots; every third replaces the one before it; the last is new.
        let hour = match i {
            20 => 23,
            _ if i % 3 == 2 => i - 1,
            _ => i,
        };
        let mut c = bin();
        c.arg("run").arg("--base-url").arg(sim.base_url()).arg("--out").arg(out);
        c.args(["--run-at", &format!("2026-04-01T{hour:02}:00:00Z")]);
        c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
        if i == 20 {
            // Not killed: it rolls forward the 20th killed run and commits its own.
            let r: Run = c.output().await.unwrap().into();
            assert_eq!(r.code, 0, "{}", r.stderr);
        } else {
            c.env("DRATA_ETL_TEST_PAUSE_AFTER_INTENT_MS", "60000");
            let mut child = c.spawn().unwrap();
            let mut found = None;
            for _ in 0..6000 {
                found = intent_in_window(out, killed.last());
                if found.is_some() || child.try_wait().unwrap().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let found = found.unwrap_or_else(|| panic!("trial {i}: the run never reached its commit intent"));
            child.start_kill().unwrap();
            let status = child.wait().await.unwrap();
            assert!(status.code().is_none(), "trial {i}: the run ended by itself inside the window");
            assert_eq!(found.0, format!("20260401T{hour:02}0000Z"));
            killed.push(found);
        }
        // The run just started rolled forward the previous killed run: its snapshot is
        // committed with its data and verifies.
        let Some((snapshot, run)) = killed.iter().rev().nth(if i == 20 { 0 } else { 1 }).cloned() else { continue };
        let m = committed_manifests(out).unwrap().into_iter().find(|m| m.snapshot_id == snapshot);
        let m = m.unwrap_or_else(|| panic!("trial {i}: snapshot {snapshot} of the killed run was not rolled forward"));
        assert_eq!(m.run_id, run, "trial {i}: snapshot {snapshot} is not the killed run's");
        assert_eq!(m.tables["personnel"].rows, 40);
        let problems = verify_snapshot(out, &m);
        assert!(problems.is_empty(), "trial {i}: rolled-forward snapshot {snapshot} does not verify: {problems:?}");
    }
    assert_eq!(killed.len(), 20);
    check_consistent(out);
    assert_all_visible_files_committed(out);
    assert_no_leftovers(out);
    assert_eq!(committed_manifests(out).unwrap().len(), 15);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_never_appears_in_any_output() {
    let mut cfg = sim_config(60);
    cfg.faults.html_error_rate = 0.1;
    cfg.faults.rate_limit = Some(drata_etl::sim::RateLimit { per_second: 400.0, burst: 5 });
    let sim = start(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for args in [&["--log-level", "trace"][..], &["--log-level", "trace", "--log-format", "json"][..]] {
        let r = run_etl(&sim, tmp.path(), args).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.len() > 1000, "trace logging produced output");
        outputs.push(r.stdout + &r.stderr);
    }
    // A rejected key, a key file, and the error paths.
    let key_file = tmp.path().join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let mut c = bin();
    c.env_remove("DRATA_API_KEY")
        .arg("run")
        .arg("--base-url")
        .arg(sim.base_url())
        .arg("--out")
        .arg(tmp.path().join("o2"));
    c.arg("--api-key-file").arg(&key_file).args(["--log-level", "trace"]);
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 0, "{}", r.stderr);
    #[cfg(unix)]
    assert!(r.stderr.contains("chmod 600"), "warns about a key file others can read");
    outputs.push(r.stdout + &r.stderr);
    let mut c = bin();
    c.env("DRATA_API_KEY", format!("{KEY}-wrong")).arg("run").arg("--base-url").arg(sim.base_url());
    c.arg("--out").arg(tmp.path().join("o3")).args(["--log-level", "trace"]);
    let r: Run = c.output().await.unwrap().into();
    assert_eq!(r.code, 77);
    outputs.push(r.stdout + &r.stderr);

    for o in &outputs {
        assert!(!o.contains(KEY), "the key leaked into process output");
    }
    for f in walk(tmp.path()) {
        if f == key_file {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "the key leaked into {}", f.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
